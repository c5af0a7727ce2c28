// The fused step's kernels (qres/optim/cuda_stepper.h) and their launcher: direction (whose last
// block to finish resolves the step), apply, and resolve alone for a step without elements. All
// element arithmetic is step_math.h's, built with -fmad=false, so it rounds as the CPU loops do.
//
// Included by kernels.cu (nvcc: the real kernels) and by emulator_backend.cc (the host
// compiler with simt_emulator.h: the same code run on the CPU, for tests without a GPU), which
// each define QRES_LAUNCH(kernel, blocks, launch, stream) and QRES_LAST_ERROR() first. Kernels
// use nothing outside that emulator's reach: threadIdx.x, blockIdx.x, gridDim.x, __shared__
// arrays, __syncthreads() and __shfl_down_sync() in block-uniform control flow, atomicAdd,
// atomicInc, __threadfence(), __ldcg(), assert(). The resolver reads what other blocks of the
// same launch wrote with __ldcg (L2, never a stale L1 line), after the fence.
#include <cassert>

#include "qres/optim/counter_rng.h"
#include "qres/optim/cuda/kernel_args.h"

namespace qres::optim::cuda {
namespace {

using step_math::AdamMoments;
using step_math::Schedule;
using step_math::SgdDirection;
using step_math::StepRule;

// Rows scanned per pass of the resolve kernel (its shared bit masks).
constexpr int kTile = 1024;

// The step's values (StepValues), from the arguments or from device memory.
__device__ __forceinline__ PerStep StepOf(const StepLaunch& a, const StepRow& row) {
  if (a.num_variants == 0) return row.step;
  return a.device_values != nullptr ? a.device_values->variants[row.variant] : a.values.variants[row.variant];
}
__device__ __forceinline__ uint64_t StreamKeyOf(const StepLaunch& a, const StepRow& row) {
  const uint64_t call = a.device_values != nullptr ? a.device_values->call : a.values.call;
  return StochasticStreamKey(a.seed, call, static_cast<uint64_t>(row.id));
}
__device__ __forceinline__ double* TrendSlotOf(const StepLaunch& a) {
  return a.trend + (a.device_values != nullptr ? a.device_values->trend_index : a.values.trend_index);
}

// One element's inputs. A thread loads all of its elements' inputs before it stores anything:
// the compiler may not move a load past a store through pointers that could alias, so loading
// element by element would leave one element's loads in flight at a time.
struct Element {
  float p, g, s0, s1;  // param (when needed), grad, state0, state1
};

__device__ __forceinline__ Element LoadElement(const StepLaunch& a, const StepRow& row, bool needs_param, int64_t j) {
  Element x{0.0f, row.grad[j], 0.0f, 0.0f};
  if (row.state0 != nullptr) x.s0 = row.state0[j];
  if (a.rule == StepRule::kAdam) x.s1 = row.state1[j];
  if (needs_param) x.p = row.param[j];
  return x;
}

// The element's direction: moments or momentum updated, and either the parameter updated
// (unquantized) or the update h returned for the quantizer.
__device__ __forceinline__ float Direction(const StepLaunch& a, const StepRow& row, const PerStep& s, Element x,
                                           int64_t j) {
  const bool quantized = a.schedule != Schedule::kNone;
  if (a.rule == StepRule::kAdam) {
    const float denom = row.coupled_l2 ? AdamMoments<true>(row.adam, x.p, x.g, x.s0, x.s1)
                                       : AdamMoments<false>(row.adam, x.p, x.g, x.s0, x.s1);
    row.state0[j] = x.s0;
    row.state1[j] = x.s1;
    if (quantized) return step_math::AdamUpdate(x.s0, denom, s.neg_step);
    float updated = step_math::AdamApply(x.p, x.s0, denom, s.neg_step);
    if (s.decay != 0.0f) updated = step_math::Decay(updated, s.decay);
    row.param[j] = updated;
    return 0.0f;
  }
  float d;
  if (row.state0 != nullptr) {
    d = SgdDirection<true>(row.sgd, x.p, x.g, &x.s0, s.first != 0);
    row.state0[j] = x.s0;
  } else {
    d = SgdDirection<false>(row.sgd, x.p, x.g, nullptr, false);
  }
  if (quantized) return step_math::SgdUpdate(d, s.neg_step);
  row.param[j] = step_math::SgdApply(x.p, d, s.neg_step);
  return 0.0f;
}

// p + R(h·Q)/Q, then the decoupled decay: the quantized update of one element.
__device__ __forceinline__ float QuantizedParam(step_math::Rounding rounding, float p, float decay, float h,
                                                float scale, uint64_t key, int64_t j) {
  const float q = step_math::RoundAny(rounding, h, scale, key, j);
  p = step_math::AddQuantized(p, q, scale);
  return decay != 0.0f ? step_math::Decay(p, decay) : p;
}

// A log-schedule row without the warm-up offset (offset off, or decayed to exactly 0) needs no
// norm: the direction kernel quantizes and adds its updates itself, in one pass.
__device__ __forceinline__ bool LogWithoutOffset(const StepLaunch& a, const PerStep& step) {
  return a.schedule == Schedule::kLog && step.offset_scale == 0.0;
}

// What one rounded value q = R(h·Q_p) adds to the zero test's sum: nothing for a non-finite h
// (step_math::IsFinite); 1 if nonzero (all_zero test), else its value, or nothing when int64
// cannot hold it (*unfit is set: step_math::RoundedTotal).
__device__ __forceinline__ unsigned long long Summand(const StepLaunch& a, float h, float q, bool* unfit) {
  if (!step_math::IsFinite(h)) return 0;
  if (a.count_nonzero) return q != 0.0f;
  if (!step_math::FitsInt64(q)) {
    *unfit = true;
    return 0;
  }
  return static_cast<unsigned long long>(static_cast<long long>(q));
}

// Bump: adds this block's exact sums of R(h·2^k) (or nonzero counts), and counts of values int64
// cannot hold, for the first kWindow candidates from where the rule starts to the tables
// (block-uniform: every thread calls it).
__device__ __forceinline__ void AddWindowSums(const StepLaunch& a, const StepRow& row, int64_t i, const PerStep& step,
                                              int64_t begin, const float (&h)[kPerThread], uint64_t key) {
  __shared__ unsigned long long sums[kWindow];
  __shared__ unsigned long long unfit_counts[kWindow];
  __shared__ int saw_nonzero;  // some h of this block is nonzero before rounding
  if (!step.checked) return;
  const int64_t start = a.global_scope ? *a.global_index : a.tensor_index[row.id];
  const int64_t lo = start > 0 ? start : 0;  // the rule never visits an index below its start
  if (lo > a.limit) return;
  if (threadIdx.x < kWindow) sums[threadIdx.x] = unfit_counts[threadIdx.x] = 0;
  if (threadIdx.x == 0) saw_nonzero = 0;
  __syncthreads();
#pragma unroll
  for (int e = 0; e < kPerThread; ++e) {
    if (begin + e * kThreads + threadIdx.x < row.numel && h[e] != 0.0f && step_math::IsFinite(h[e])) {
      saw_nonzero = 1;  // same value: no race
    }
  }
  const int64_t last = lo + kWindow - 1 < a.limit ? lo + kWindow - 1 : a.limit;
  for (int64_t k = lo; k <= last; ++k) {
    const float scale = ldexpf(1.0f, static_cast<int>(k));
    unsigned long long sum = 0;
#pragma unroll
    for (int e = 0; e < kPerThread; ++e) {
      const int64_t j = begin + e * kThreads + threadIdx.x;
      if (j < row.numel) {
        bool unfit = false;
        sum += Summand(a, h[e], step_math::RoundAny(a.rounding, h[e], scale, key, j), &unfit);
        if (unfit) atomicAdd(&unfit_counts[k - lo], 1ull);  // rare: diverged updates
      }
    }
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if ((threadIdx.x & 31) == 0 && sum != 0) atomicAdd(&sums[k - lo], sum);
  }
  __syncthreads();
  if (threadIdx.x == 0 && saw_nonzero) atomicAdd(&a.nonzero_updates[i], 1ull);
  if (threadIdx.x <= last - lo) {
    const int64_t slot = i * kCandidates + lo + threadIdx.x;
    if (sums[threadIdx.x] != 0) atomicAdd(reinterpret_cast<unsigned long long*>(&a.table[slot]), sums[threadIdx.x]);
    if (unfit_counts[threadIdx.x] != 0) atomicAdd(&a.unfit[slot], unfit_counts[threadIdx.x]);
  }
}

// Log with an offset: this block's Σh² in the fixed order (step_math::SumSquaresInOrder: lane
// threadIdx.x sums elements threadIdx.x, + kThreads, ... in order, then the lanes as a tree).
__device__ __forceinline__ void WriteNormPartial(const StepLaunch& a, const StepRow& row, int64_t begin,
                                                 const float (&h)[kPerThread]) {
  __shared__ double lanes[kThreads];
  double sum = 0.0;
#pragma unroll
  for (int e = 0; e < kPerThread; ++e) {
    const int64_t j = begin + e * kThreads + threadIdx.x;
    if (j < row.numel) {
      const double x = h[e];
      sum += step_math::IsFinite(x) ? x * x : 0.0;  // non-finite elements take no part
    }
  }
  const int lane = static_cast<int>(threadIdx.x);
  lanes[lane] = sum;
  __syncthreads();
  for (int w = kThreads / 2; w >= 1; w /= 2) {
    if (lane < w) lanes[lane] += lanes[lane + w];
    __syncthreads();
  }
  if (lane == 0) a.partials[blockIdx.x] = lanes[0];
}

// Whether the step has a resolve phase: the bump rule, or the log schedule's offset factors. The
// launcher asks too.
__host__ __device__ __forceinline__ bool NeedsResolve(const StepLaunch& a) {
  return a.schedule == Schedule::kBump || (a.schedule == Schedule::kLog && a.log_offset);
}

__device__ __forceinline__ void Resolve(const StepLaunch& a);

// (1) Directions of every element. Unquantized, or log schedule without an offset: the parameter
// update too. Otherwise the update h goes to the update buffer and, bump: the exact sums of
// R(h·2^k) (or nonzero counts) for the first kWindow candidates k the rule can visit this step
// are added to the table; log with an offset: the chunk's Σh² in the fixed order.
// (The bound of three blocks per SM lets ptxas use up to 85 registers: it takes 70, without
// spills; left to itself it kept 64 and spilled around the inlined resolve.)
__global__ void __launch_bounds__(kThreads, 3) DirectionKernel(StepLaunch a) {
  const int64_t i = a.block_rows[blockIdx.x];
  // A copy: through a reference the compiler would reload the row's fields after every store,
  // since the stores could alias the table.
  const StepRow row = a.rows[i];
  const PerStep step = StepOf(a, row);
  const int64_t begin = (blockIdx.x - row.first_chunk) * kChunk;
  const bool one_pass = LogWithoutOffset(a, step);
  const bool quantized = a.schedule != Schedule::kNone;
  const bool coupled = a.rule == StepRule::kAdam ? row.coupled_l2 != 0 : row.sgd.weight_decay != 0.0f;
  const bool needs_param = coupled || !quantized || one_pass;
  const uint64_t key = StreamKeyOf(a, row);
  Element x[kPerThread];
#pragma unroll
  for (int e = 0; e < kPerThread; ++e) {
    const int64_t j = begin + e * kThreads + threadIdx.x;
    if (j < row.numel) x[e] = LoadElement(a, row, needs_param, j);
  }
  float h[kPerThread];
#pragma unroll
  for (int e = 0; e < kPerThread; ++e) {
    const int64_t j = begin + e * kThreads + threadIdx.x;
    h[e] = 0.0f;
    if (j < row.numel) {
      h[e] = Direction(a, row, step, x[e], j);
      if (one_pass) {
        row.param[j] = QuantizedParam(a.rounding, x[e].p, step.decay, h[e], step.log_scale, key, j);
      } else if (quantized) {
        row.update[j] = h[e];
      }
    }
  }
  if (a.schedule == Schedule::kBump) {
    AddWindowSums(a, row, i, step, begin, h, key);
  } else if (a.schedule == Schedule::kLog) {
    if (step.offset_scale != 0.0) WriteNormPartial(a, row, begin, h);
  }
  if (!NeedsResolve(a)) return;
  // The last block to finish resolves the step (the threadfence reduction pattern): the
  // rounded sums and norm partials of every block are in memory by then. The barrier orders the
  // block's writes before thread 0's fence, which makes them all visible device-wide before its
  // count (fences are cumulative), so one fence per block does what one per thread did.
  // atomicInc wraps the counter to 0 as the last block takes it, so it is 0 again for the next
  // step without a store that a later launch could race.
  __shared__ bool last_block;
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    const unsigned done = atomicInc(a.blocks_done, gridDim.x - 1);
    // A count left over from a launch that did not finish would let a block resolve early and
    // read partial sums; debug builds stop at the first sign of one.
    assert(done < gridDim.x);
    last_block = done == gridDim.x - 1;
  }
  __syncthreads();
  if (!last_block) return;
  __threadfence();
  Resolve(a);
}

// `value` combined over the block's threads by `combine` (Plus, Min), as a tree in a fixed order.
// Every thread must call it; all get the result.
struct Plus {
  __device__ unsigned long long operator()(unsigned long long x, unsigned long long y) const { return x + y; }
};
struct Min {
  __device__ unsigned long long operator()(unsigned long long x, unsigned long long y) const { return y < x ? y : x; }
};
template <typename Combine>
__device__ __forceinline__ unsigned long long BlockReduce(unsigned long long value, unsigned long long* scratch,
                                                          Combine combine) {
  const int lane = static_cast<int>(threadIdx.x);
  scratch[lane] = value;
  __syncthreads();
  for (int w = kThreads / 2; w >= 1; w /= 2) {
    if (lane < w) scratch[lane] = combine(scratch[lane], scratch[lane + w]);
    __syncthreads();
  }
  const unsigned long long result = scratch[0];
  __syncthreads();  // before the next call overwrites scratch
  return result;
}

// Rows of more chunks than this have their norm partials summed by the whole resolving block.
constexpr int64_t kLongRow = 32;

// partials[0] + partials[1] + ... + partials[count - 1], in that order, by one thread: loads are
// issued eight at a time, so eight are in flight where one was.
__device__ __forceinline__ double SumInOrder(const double* partials, int64_t count) {
  constexpr int kBatch = 8;
  double total = 0.0;
  for (int64_t c = 0; c < count; c += kBatch) {
    double v[kBatch];
#pragma unroll
    for (int k = 0; k < kBatch; ++k) v[k] = c + k < count ? __ldcg(partials + c + k) : 0.0;
#pragma unroll
    for (int k = 0; k < kBatch; ++k) {
      if (c + k < count) total += v[k];
    }
  }
  return total;
}

// The log schedule's offset factor s·λ/‖h‖ from Σh² (0 for h = 0).
__device__ __forceinline__ double FactorOf(double offset_scale, double sum_of_squares) {
  const double norm = sqrt(sum_of_squares);
  return norm > 0.0 ? offset_scale / norm : 0.0;
}

// Whether row i's update quantized at index n is nonzero: Σ R(h·2^n) (or the nonzero count) over
// it, by the whole block, exactly (integer sums wrap alike in any order): for candidates past the
// direction kernel's window. Every thread must call it; all get the answer.
__device__ __forceinline__ bool BlockRoundedNonzero(const StepLaunch& a, int64_t i, int64_t n,
                                                    unsigned long long* scratch) {
  const StepRow& row = a.rows[i];
  const float scale = ldexpf(1.0f, static_cast<int>(n > 0 ? n : 0));
  const uint64_t key = StreamKeyOf(a, row);
  unsigned long long sum = 0, unfit_count = 0;
  // kInFlight coalesced loads per thread are issued before any is used, so they are in flight
  // together.
  constexpr int kInFlight = 4;
  for (int64_t base = threadIdx.x; base < row.numel; base += kInFlight * kThreads) {
    float h[kInFlight];
#pragma unroll
    for (int k = 0; k < kInFlight; ++k) {
      const int64_t j = base + k * kThreads;
      h[k] = j < row.numel ? __ldcg(row.update + j) : 0.0f;
    }
#pragma unroll
    for (int k = 0; k < kInFlight; ++k) {
      const int64_t j = base + k * kThreads;
      if (j >= row.numel) continue;
      bool unfit = false;
      sum += Summand(a, h[k], step_math::RoundAny(a.rounding, h[k], scale, key, j), &unfit);
      unfit_count += unfit;
    }
  }
  const unsigned long long total_sum = BlockReduce(sum, scratch, Plus());
  const unsigned long long total_unfit = BlockReduce(unfit_count, scratch, Plus());
  return total_sum != 0 || total_unfit != 0;
}

// The bump rule over a run of rows, global scope, as composed maps. While the index stays within
// the direction kernel's window (lo .. lo + kWindow), one row's step takes the window offset
// n - lo to a new one, and that map, 3 bits per offset 0..kWindow, composes with the next row's.
// Offset kWindow is the index leaving the window: past it the rule needs sums the window does not
// have (or it is index_limit + 1, the end).
constexpr int kRowsPerThread = kTile / kThreads;
static_assert(kTile % kThreads == 0, "a tile's rows split evenly over the threads");
static_assert(kWindow < 8, "an offset 0..kWindow fits in 3 bits");

__device__ __forceinline__ uint32_t MapAt(uint32_t map, uint32_t offset) { return (map >> (3 * offset)) & 7u; }

__device__ __forceinline__ uint32_t IdentityMap() {
  uint32_t map = 0;
  for (uint32_t o = 0; o <= kWindow; ++o) map |= o << (3 * o);
  return map;
}

// `earlier`, then `later`.
__device__ __forceinline__ uint32_t Compose(uint32_t later, uint32_t earlier) {
  uint32_t map = 0;
  for (uint32_t o = 0; o <= kWindow; ++o) map |= MapAt(later, MapAt(earlier, o)) << (3 * o);
  return map;
}

// One row's step, AdvanceIndex within the window: from offset o, up to the first candidate whose
// quantized update is nonzero (`bits`), or to index_limit + 1, or out of the window.
__device__ __forceinline__ uint32_t RowMap(const StepLaunch& a, unsigned bits, bool checked, int64_t lo) {
  uint32_t map = 0;
  for (uint32_t o = 0; o <= kWindow; ++o) {
    uint32_t to = o;
    while (checked && to < kWindow && lo + to <= a.limit && ((bits >> to) & 1u) == 0) ++to;
    map |= to << (3 * o);
  }
  return map;
}

// The rule over the tile's rows first .. first + rows, global scope, from index lo + offset: every
// thread composes its rows' maps, a scan over the threads composes those, so each row learns its
// index at once instead of after every row before it. Writes a.chosen up to the first row that
// leaves the window and returns that row (`rows` if none), with *running the index before it.
// Every thread must call it.
__device__ __forceinline__ int64_t ScanTheWindow(const StepLaunch& a, int64_t first, int64_t rows, int64_t lo,
                                                 uint32_t offset, const unsigned char* window,
                                                 const unsigned char* checked, int64_t* running,
                                                 unsigned long long* scratch) {
  __shared__ uint32_t prefix[kThreads];
  __shared__ int64_t before;
  const int64_t mine = static_cast<int64_t>(threadIdx.x) * kRowsPerThread;
  uint32_t maps[kRowsPerThread];
  uint32_t aggregate = IdentityMap();
#pragma unroll
  for (int k = 0; k < kRowsPerThread; ++k) {
    const int64_t r = mine + k;
    maps[k] = r < rows ? RowMap(a, window[r], checked[r] != 0, lo) : IdentityMap();
    aggregate = Compose(maps[k], aggregate);
  }
  prefix[threadIdx.x] = aggregate;
  __syncthreads();
  for (int d = 1; d < kThreads; d *= 2) {  // inclusive scan: prefix[t] is threads 0..t's rows
    const uint32_t value = static_cast<int>(threadIdx.x) >= d ? Compose(prefix[threadIdx.x], prefix[threadIdx.x - d]) : prefix[threadIdx.x];
    __syncthreads();
    prefix[threadIdx.x] = value;
    __syncthreads();
  }
  const bool can_leave = lo + kWindow <= a.limit;  // else offset kWindow is index_limit + 1
  uint32_t o = threadIdx.x > 0 ? MapAt(prefix[threadIdx.x - 1], offset) : offset;
  uint32_t after[kRowsPerThread];
  int64_t leaves = rows;
#pragma unroll
  for (int k = 0; k < kRowsPerThread; ++k) {
    o = MapAt(maps[k], o);
    after[k] = o;
    if (mine + k < rows && can_leave && o == kWindow && leaves == rows) leaves = mine + k;
  }
  const int64_t stop = static_cast<int64_t>(BlockReduce(static_cast<unsigned long long>(leaves), scratch, Min()));
#pragma unroll
  for (int k = 0; k < kRowsPerThread; ++k) {
    const int64_t r = mine + k;
    if (r < stop) a.chosen[first + r] = lo + after[k];
    if (r + 1 == stop) before = lo + after[k];
  }
  if (threadIdx.x == 0 && stop == 0) before = lo + offset;
  __syncthreads();
  *running = before;
  __syncthreads();  // before the next call writes `before`
  return stop;
}

// (2) Resolve, by one block (the direction kernel's last). Bump: each row's window of candidates
// becomes a bit mask (and the table is zeroed for the next step), then the block walks the rows
// in order through the sequential rule; a candidate past the window (a bump of kWindow or more in
// one step: rare after the first steps) is summed there and then from the update buffer. Log:
// each row's ‖h‖ and offset factor.
__device__ __forceinline__ void Resolve(const StepLaunch& a) {
  if (a.schedule == Schedule::kLog) {
    // Each row's Σh² adds its chunk partials in chunk order (SumSquaresInOrder). Rows of up to
    // kLongRow chunks: one thread each. Longer rows, one at a time: the whole block loads kThreads
    // partials at once (coalesced) and thread 0 adds them, so the loads are never one at a time.
    __shared__ double tile[kThreads];
    for (int64_t i = threadIdx.x; i < a.num_rows; i += kThreads) {
      const StepRow& row = a.rows[i];
      const int64_t chunks = (row.numel + kChunk - 1) / kChunk;
      if (chunks > kLongRow) continue;
      const double offset_scale = StepOf(a, row).offset_scale;
      a.factors[i] = offset_scale != 0.0 ? FactorOf(offset_scale, SumInOrder(a.partials + row.first_chunk, chunks))
                                         : 0.0;
    }
    for (int64_t i = 0; i < a.num_rows; ++i) {  // block-uniform: every thread reads the same row
      const StepRow& row = a.rows[i];
      const int64_t chunks = (row.numel + kChunk - 1) / kChunk;
      const double offset_scale = StepOf(a, row).offset_scale;
      if (chunks <= kLongRow) continue;
      if (offset_scale == 0.0) {
        if (threadIdx.x == 0) a.factors[i] = 0.0;
        continue;
      }
      double total = 0.0;  // thread 0's
      for (int64_t base = 0; base < chunks; base += kThreads) {
        const int64_t count = chunks - base < kThreads ? chunks - base : kThreads;
        if (threadIdx.x < count) tile[threadIdx.x] = __ldcg(a.partials + row.first_chunk + base + threadIdx.x);
        __syncthreads();
        if (threadIdx.x == 0) {
          for (int64_t k = 0; k < count; ++k) total += tile[k];
        }
        __syncthreads();  // before the next tile overwrites this one
      }
      if (threadIdx.x == 0) a.factors[i] = FactorOf(offset_scale, total);
    }
    return;
  }
  // Per row of the tile: which window candidates are nonzero, where the window starts, where
  // the row's index starts (per-tensor scope) and whether the rule applies.
  __shared__ unsigned char window[kTile], window_start[kTile], checked[kTile], walk[kTile];
  __shared__ int32_t start[kTile];
  __shared__ unsigned long long scratch[kThreads];
  const int64_t step_start = *a.global_index;  // before this kernel updates it
  int64_t running = step_start;  // global scope: every thread walks the rows alike
  for (int64_t first = 0; first < a.num_rows; first += kTile) {
    const int64_t rows = a.num_rows - first < kTile ? a.num_rows - first : kTile;
    for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
      const StepRow& row = a.rows[first + r];
      const int64_t row_start = a.global_scope ? step_start : a.tensor_index[row.id];
      const int64_t lo = row_start > 0 ? row_start : 0;
      unsigned long long* sums = reinterpret_cast<unsigned long long*>(a.table) + (first + r) * kCandidates;
      unsigned long long* unfit = a.unfit + (first + r) * kCandidates;
      unsigned bits = 0;
      for (int b = 0; b < kWindow && lo + b <= a.limit; ++b) {
        if (__ldcg(sums + lo + b) == 0 && __ldcg(unfit + lo + b) == 0) continue;
        bits |= 1u << b;
        sums[lo + b] = unfit[lo + b] = 0;  // the tables are zero between steps
      }
      window[r] = static_cast<unsigned char>(bits);
      window_start[r] = static_cast<unsigned char>(lo);
      start[r] = static_cast<int32_t>(row_start);
      // An update that was zero before rounding bumps nothing (unless the reference's rule is asked).
      const bool nonzero_update = __ldcg(a.nonzero_updates + first + r) != 0;
      a.nonzero_updates[first + r] = 0;
      checked[r] = StepOf(a, row).checked != 0 && (a.bump_on_zero_update || nonzero_update);
    }
    __syncthreads();
    // Global scope: the rows whose index stays in the window at once (ScanTheWindow); from the
    // first that leaves it, the sequential rule below. Per-tensor scope: each row on its own
    // thread, and the rows whose index leaves the window (or starts below 0) by the rule below.
    int64_t walk_from = 0;
    if (a.global_scope && step_start >= 0 && running - step_start <= kWindow) {
      walk_from = ScanTheWindow(a, first, rows, step_start, static_cast<uint32_t>(running - step_start), window,
                                checked, &running, scratch);
    } else if (!a.global_scope) {
      for (int64_t r = threadIdx.x; r < rows; r += kThreads) {
        walk[r] = 1;
        if (start[r] < 0) continue;
        const uint32_t o = MapAt(RowMap(a, window[r], checked[r] != 0, start[r]), 0);
        if (o == kWindow && start[r] + kWindow <= a.limit) continue;  // it leaves the window
        walk[r] = 0;
        a.chosen[first + r] = start[r] + o;
        a.tensor_index[a.rows[first + r].id] = start[r] + o;
      }
      __syncthreads();
    }
    // The sequential rule, AdvanceIndex: the whole block in step, as a candidate past the window
    // is summed by all its threads.
    for (int64_t r = walk_from; r < rows; ++r) {
      if (!a.global_scope && !walk[r]) continue;  // block-uniform: walk[] is shared
      int64_t n = a.global_scope ? running : start[r];
      while (checked[r] && n <= a.limit) {
        const int64_t offset = (n > 0 ? n : 0) - window_start[r];
        const bool nonzero = offset < kWindow ? ((window[r] >> offset) & 1u) != 0
                                              : BlockRoundedNonzero(a, first + r, n, scratch);
        if (nonzero) break;
        ++n;
      }
      running = n;
      if (threadIdx.x == 0) {
        a.chosen[first + r] = n;
        if (!a.global_scope) a.tensor_index[a.rows[first + r].id] = n;
      }
    }
    __syncthreads();  // the next tile reuses the shared arrays
  }
  if (threadIdx.x != 0) return;
  if (a.global_scope) {
    *a.global_index = running;
    *TrendSlotOf(a) = static_cast<double>(running);
  } else {  // the largest index over every tensor, as Quantizer::index() reports it
    int64_t top = a.tensor_index_size > 0 ? a.tensor_index[0] : *a.global_index;
    for (int64_t k = 1; k < a.tensor_index_size; ++k) top = a.tensor_index[k] > top ? a.tensor_index[k] : top;
    *TrendSlotOf(a) = static_cast<double>(top);
  }
}

// (2) alone, for a step without elements (no direction blocks to finish last).
__global__ void __launch_bounds__(kThreads) ResolveKernel(StepLaunch a) { Resolve(a); }

// (3) param += R(h·Q)/Q with the resolved Q (and the log schedule's offset first), then the
// decoupled decay.
__global__ void __launch_bounds__(kThreads) ApplyKernel(StepLaunch a) {
  const int64_t i = a.block_rows[blockIdx.x];
  const StepRow row = a.rows[i];  // a copy, as in DirectionKernel
  const PerStep step = StepOf(a, row);
  if (LogWithoutOffset(a, step)) return;  // done in the direction kernel
  const int64_t begin = (blockIdx.x - row.first_chunk) * kChunk;
  float scale = step.log_scale;
  double offset = 0.0;
  if (a.schedule == Schedule::kBump) {
    const int64_t k = a.chosen[i];
    scale = ldexpf(1.0f, static_cast<int>(k > 0 ? k : 0));
  } else {
    offset = a.factors[i];
  }
  const float offset_factor = static_cast<float>(offset);
  const uint64_t key = StreamKeyOf(a, row);
  float h[kPerThread], p[kPerThread];  // all loads first (see Element)
#pragma unroll
  for (int e = 0; e < kPerThread; ++e) {
    const int64_t j = begin + e * kThreads + threadIdx.x;
    if (j < row.numel) {
      h[e] = row.update[j];
      p[e] = row.param[j];
    }
  }
#pragma unroll
  for (int e = 0; e < kPerThread; ++e) {
    const int64_t j = begin + e * kThreads + threadIdx.x;
    if (j >= row.numel) continue;
    const float shifted = offset != 0.0 ? step_math::AddOffset(h[e], offset_factor) : h[e];
    row.param[j] = QuantizedParam(a.rounding, p[e], step.decay, shifted, scale, key, j);
  }
}

}  // namespace

int LaunchFusedStep(const StepLaunch& a, cudaStream_t stream) {
  if (a.schedule == Schedule::kBump && (a.limit < 0 || a.limit >= kCandidates)) return kInvalidLaunch;
  const unsigned blocks = static_cast<unsigned>(a.total_chunks);
  const bool resolve = NeedsResolve(a);
  if (blocks > 0) {
    QRES_LAUNCH(DirectionKernel, blocks, a, stream);  // its last block resolves
    if (resolve) QRES_LAUNCH(ApplyKernel, blocks, a, stream);
  } else if (resolve) {
    QRES_LAUNCH(ResolveKernel, 1, a, stream);
  }
  return QRES_LAST_ERROR();
}

}  // namespace qres::optim::cuda
