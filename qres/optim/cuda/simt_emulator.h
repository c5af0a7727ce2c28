// Runs CUDA kernel code on the host, for tests on machines without a GPU (this project's CI has
// none). Include it before the kernels; it maps the few CUDA constructs they use:
//
//   threadIdx.x, blockIdx.x    the emulated thread and block; gridDim.x the number of blocks
//   __shared__                 one copy per kernel (blocks run one after another)
//   __syncthreads()            a barrier over the block's threads
//   __shfl_down_sync(m, v, d)  lane + d's value (own value past the warp), as on the GPU
//   atomicAdd(T*, T)           a plain add (the threads take turns on one OS thread)
//   atomicInc(unsigned*, u)    a plain wrapping increment
//   __threadfence()            nothing (blocks run in order, so a later block sees every write)
//   __ldcg(p)                  *p
//
// Blocks run one after another, in a scrambled order; each block's threads are fibers (ucontext)
// on the calling thread, run in turn (alternately forwards and backwards) until each reaches the
// next barrier, so shared memory, barriers and shuffles behave as on the GPU for code
// whose barriers are in block-uniform control flow; a barrier that only some threads reach
// aborts with a message (on a GPU it would hang or corrupt). Warp-level operations are emulated
// with block barriers, so they too must be reached by the whole block. Slow (a context switch
// per thread and barrier): for test-sized inputs.
#ifndef QRES_OPTIM_CUDA_SIMT_EMULATOR_H_
#define QRES_OPTIM_CUDA_SIMT_EMULATOR_H_

#include <ucontext.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <vector>

namespace qres::simt {

struct Index {
  unsigned x = 0;
};

class Block {
 public:
  static Block& Current() {
    static Block block;
    return block;
  }

  Index thread, block, grid;

  // Runs body() once per thread of a block of `threads`.
  void Run(unsigned threads, const std::function<void()>& body) {
    Resize(threads);
    body_ = &body;
    for (unsigned t = 0; t < threads; ++t) {
      Fiber& fiber = fibers_[t];
      getcontext(&fiber.context);
      fiber.context.uc_stack.ss_sp = fiber.stack.get();
      fiber.context.uc_stack.ss_size = kStackBytes;
      fiber.context.uc_link = &scheduler_;
      makecontext(&fiber.context, &Block::Entry, 0);
      fiber.done = false;
    }
    for (unsigned round = 0;; ++round) {  // every live thread runs to its next barrier or its end
      for (unsigned u = 0; u < threads; ++u) {
        // Odd rounds run the threads in reverse: code that reads what another thread wrote
        // without a barrier between sees a different order than on even rounds.
        const unsigned t = round % 2 == 0 ? u : threads - 1 - u;
        if (fibers_[t].done) continue;
        current_ = t;
        thread.x = t;
        swapcontext(&scheduler_, &fibers_[t].context);
      }
      unsigned done = 0;
      for (unsigned t = 0; t < threads; ++t) done += fibers_[t].done ? 1 : 0;
      if (done == threads) return;
      if (done != 0) {
        std::fprintf(stderr, "simt emulator: block %u: __syncthreads() reached by %u of %u threads\n", block.x,
                     threads - done, threads);
        std::abort();
      }
    }
  }

  void SyncThreads() { swapcontext(&fibers_[current_].context, &scheduler_); }

  template <typename T>
  T ShuffleDown(T value, unsigned delta) {
    static_assert(sizeof(T) <= sizeof(unsigned long long));
    const unsigned t = current_;
    std::memcpy(&exchange_[t], &value, sizeof(T));
    SyncThreads();
    const unsigned lane = t % 32;
    T result = value;
    if (lane + delta < 32 && t + delta < exchange_.size()) std::memcpy(&result, &exchange_[t + delta], sizeof(T));
    SyncThreads();  // nobody overwrites a slot before everyone read
    return result;
  }

 private:
  static constexpr size_t kStackBytes = 64 * 1024;

  struct Fiber {
    ucontext_t context;
    std::unique_ptr<char[]> stack;
    bool done = false;
  };

  static void Entry() {
    Block& b = Current();
    (*b.body_)();
    b.fibers_[b.current_].done = true;  // returning resumes the scheduler (uc_link)
  }

  void Resize(unsigned threads) {
    if (fibers_.size() >= threads) return;
    fibers_.resize(threads);
    for (Fiber& fiber : fibers_) {
      if (!fiber.stack) fiber.stack = std::make_unique<char[]>(kStackBytes);
    }
    exchange_.resize(threads);
  }

  std::vector<Fiber> fibers_;
  std::vector<unsigned long long> exchange_;
  ucontext_t scheduler_;
  unsigned current_ = 0;
  const std::function<void()>* body_ = nullptr;
};

// kernel<<<blocks, threads>>>(args), blocks one after another in a scrambled order (a GPU
// promises none: code that depends on block order should fail here too).
template <typename Args>
void Launch(void (*kernel)(Args), unsigned blocks, unsigned threads, const Args& args) {
  Block& b = Block::Current();
  const std::function<void()> body = [&] { kernel(args); };
  b.grid.x = blocks;
  // i -> (i * stride + offset) mod blocks with stride coprime to blocks: a permutation.
  unsigned stride = blocks / 2 + 1;
  while (std::gcd(stride, blocks) != 1) ++stride;
  const unsigned offset = blocks / 3;
  for (unsigned i = 0; i < blocks; ++i) {
    b.block.x = static_cast<unsigned>((static_cast<uint64_t>(i) * stride + offset) % blocks);
    b.Run(threads, body);
  }
}

}  // namespace qres::simt

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
#define threadIdx (::qres::simt::Block::Current().thread)
#define blockIdx (::qres::simt::Block::Current().block)
#define gridDim (::qres::simt::Block::Current().grid)
#define __threadfence()  // blocks run one after another: every write is already visible
#define __syncthreads() ::qres::simt::Block::Current().SyncThreads()
#define __shfl_down_sync(mask, value, delta) ::qres::simt::Block::Current().ShuffleDown((value), (delta))

template <typename T>
T __ldcg(const T* address) {  // a load that bypasses L1 on the GPU; here, a load
  return *address;
}

template <typename T>
T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}

// CUDA's wrapping increment: 0 once the old value reaches `limit`.
inline unsigned atomicInc(unsigned* address, unsigned limit) {
  const unsigned old = *address;
  *address = old >= limit ? 0u : old + 1u;
  return old;
}

#endif  // QRES_OPTIM_CUDA_SIMT_EMULATOR_H_
