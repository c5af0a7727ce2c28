// Built with -mavx2 -mfma -ffp-contract=off: FMA exactly where written (std::fma where ATen
// fuses), vector code everywhere. Only compiler builtins and this project's static inline
// functions are used, so no shared inline function is compiled here for AVX2.
#include "qres/optim/fused_cpu_kernels.h"

#include "qres/optim/step_math.h"

namespace qres::optim::fused_cpu::kernels {
namespace {

using step_math::Round;
using step_math::Rounding;

// The zero test's sum when some rounded value does not fit int32 (huge or not finite updates):
// scalar and exact; non-finite h take no part (step_math::IsFinite).
template <Rounding kRounding>
step_math::RoundedTotal ExactSum(const float* h, const RoundedSum& r, int64_t begin, int64_t end) {
  step_math::RoundedTotal total;
  for (int64_t j = begin; j < end; ++j) {
    if (!step_math::IsFinite(h[j])) continue;
    const float q = Round<kRounding>(h[j], r.scale, r.stream_key, j);
    if (step_math::FitsInt64(q)) {
      total.sum += static_cast<int64_t>(q);
    } else {
      ++total.unfit;
    }
  }
  return total;
}

template <Rounding kRounding, bool kCountNonzero>
step_math::RoundedTotal SumRange(const float* __restrict h, const RoundedSum& r, int64_t begin, int64_t end) {
  const float scale = r.scale;  // locals: the compiler need not reload them, and vectorises
  const uint64_t key = r.stream_key;
  int64_t sum = 0;
  int64_t wide = 0;
  for (int64_t j = begin; j < end; ++j) {
    const float q = Round<kRounding>(h[j], scale, key, j);
    if constexpr (kCountNonzero) {
      sum += (q != 0.0f) & step_math::IsFinite(h[j]);  // non-finite h take no part
    } else {
      // Through int32, which AVX2 converts and widens in vector registers (float -> int64 it
      // cannot); values beyond int32 (or not finite) are summed again exactly, without non-finite h.
      sum += static_cast<int32_t>(q);
      wide += !(__builtin_fabsf(q) < 2147483648.0f);
    }
  }
  if (!kCountNonzero && wide != 0) return ExactSum<kRounding>(h, r, begin, end);
  return {sum, 0};
}

template <Rounding kRounding>
void AddRounded(float* __restrict param, const float* __restrict h, const RoundedSum& r, int64_t begin, int64_t end) {
  const float scale = r.scale;
  const uint64_t key = r.stream_key;
  for (int64_t j = begin; j < end; ++j) {
    param[j] = step_math::AddQuantized(param[j], Round<kRounding>(h[j], scale, key, j), scale);
  }
}

template <bool kL2, bool kUpdate>
void Adam(const TensorStep& step, float* __restrict h, int64_t begin, int64_t end) {
  const step_math::AdamScalars s = step.adam;  // a local copy: the compiler need not reload it
  const float neg_step = step.neg_step;
  float* __restrict param = step.param;
  const float* __restrict grad = step.grad;
  float* __restrict m = step.state0;
  float* __restrict v = step.state1;
  for (int64_t j = begin; j < end; ++j) {
    float mj = m[j], vj = v[j];
    const float denom = step_math::AdamMoments<kL2>(s, param[j], grad[j], mj, vj);
    m[j] = mj;
    v[j] = vj;
    if constexpr (kUpdate) {
      h[j] = step_math::AdamUpdate(mj, denom, neg_step);
    } else {
      param[j] = step_math::AdamApply(param[j], mj, denom, neg_step);
    }
  }
}

template <bool kMomentum, bool kUpdate>
void Sgd(const TensorStep& step, float* __restrict update, int64_t begin, int64_t end) {
  const step_math::SgdScalars s = step.sgd;
  const float neg_lr = step.neg_step;
  const bool first = step.first_buffer;
  float* __restrict param = step.param;
  const float* __restrict grad = step.grad;
  float* __restrict buffer = step.state0;
  for (int64_t j = begin; j < end; ++j) {
    const float d = step_math::SgdDirection<kMomentum>(s, param[j], grad[j], buffer + j, first);
    if constexpr (kUpdate) {
      update[j] = step_math::SgdUpdate(d, neg_lr);
    } else {
      param[j] = step_math::SgdApply(param[j], d, neg_lr);
    }
  }
}

}  // namespace

void AdamRange(const TensorStep& step, float* update, int64_t begin, int64_t end) {
  const bool l2 = step.coupled_l2;
  if (update != nullptr) {
    l2 ? Adam<true, true>(step, update, begin, end) : Adam<false, true>(step, update, begin, end);
  } else {
    l2 ? Adam<true, false>(step, update, begin, end) : Adam<false, false>(step, update, begin, end);
  }
}

void SgdRange(const TensorStep& step, float* update, int64_t begin, int64_t end) {
  if (step.state0 != nullptr) {
    update != nullptr ? Sgd<true, true>(step, update, begin, end) : Sgd<true, false>(step, update, begin, end);
  } else {
    update != nullptr ? Sgd<false, true>(step, update, begin, end) : Sgd<false, false>(step, update, begin, end);
  }
}

step_math::RoundedTotal SumRoundedRange(const float* h, const RoundedSum& r, int64_t begin, int64_t end) {
  // One instantiation per (rounding, zero test): the loops stay free of per-element branches.
  const bool count = r.count_nonzero;
  switch (r.rounding) {
    case Rounding::kHalfUp:
      return count ? SumRange<Rounding::kHalfUp, true>(h, r, begin, end)
                   : SumRange<Rounding::kHalfUp, false>(h, r, begin, end);
    case Rounding::kFloor:
      return count ? SumRange<Rounding::kFloor, true>(h, r, begin, end)
                   : SumRange<Rounding::kFloor, false>(h, r, begin, end);
    case Rounding::kNearestEven:
      return count ? SumRange<Rounding::kNearestEven, true>(h, r, begin, end)
                   : SumRange<Rounding::kNearestEven, false>(h, r, begin, end);
    default:
      return count ? SumRange<Rounding::kStochastic, true>(h, r, begin, end)
                   : SumRange<Rounding::kStochastic, false>(h, r, begin, end);
  }
}

void AddRoundedRange(float* param, const float* h, const RoundedSum& r, int64_t begin, int64_t end) {
  switch (r.rounding) {
    case Rounding::kHalfUp:
      return AddRounded<Rounding::kHalfUp>(param, h, r, begin, end);
    case Rounding::kFloor:
      return AddRounded<Rounding::kFloor>(param, h, r, begin, end);
    case Rounding::kNearestEven:
      return AddRounded<Rounding::kNearestEven>(param, h, r, begin, end);
    default:
      return AddRounded<Rounding::kStochastic>(param, h, r, begin, end);
  }
}

void DecayRange(float* __restrict param, float factor, int64_t begin, int64_t end) {
  for (int64_t j = begin; j < end; ++j) param[j] = step_math::Decay(param[j], factor);
}

void OffsetRange(float* __restrict h, float factor, int64_t begin, int64_t end) {
  for (int64_t j = begin; j < end; ++j) h[j] = step_math::AddOffset(h[j], factor);
}

void NormPartialsRange(const float* h, int64_t numel, int64_t first, int64_t last, double* partials) {
  for (int64_t c = first; c < last; ++c) {
    const int64_t begin = c * step_math::kNormChunk;
    const int64_t count = numel - begin < step_math::kNormChunk ? numel - begin : step_math::kNormChunk;
    partials[c] = step_math::ChunkSumSquares(h + begin, count);
  }
}

}  // namespace qres::optim::fused_cpu::kernels
