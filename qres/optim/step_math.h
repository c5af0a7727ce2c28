// The element arithmetic of the optimizer steps and the quantizer, shared by the CPU loops
// (fused_cpu_kernels.cc) and the CUDA kernels (qres/optim/cuda/kernels.cu), so both run the
// same operations in the same order and the CPU tests check the arithmetic the GPU runs.
//
// Every operation rounds on its own: callers build with -ffp-contract=off (host) or -fmad=false
// (nvcc), and a multiply-add is fused only where Fma() is called (where ATen fuses). Division and
// square root are IEEE (nvcc's defaults: no fast math).
#ifndef QRES_OPTIM_STEP_MATH_H_
#define QRES_OPTIM_STEP_MATH_H_

#include <cstdint>

#include "qres/optim/counter_rng.h"  // QRES_HOST_DEVICE, UniformFloat

namespace qres::optim::step_math {

QRES_HOST_DEVICE float Fma(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return __builtin_fmaf(a, b, c);
#endif
}

QRES_HOST_DEVICE float Sqrt(float x) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(x);
#else
  return __builtin_sqrtf(x);
#endif
}

QRES_HOST_DEVICE float Floor(float x) {
#if defined(__CUDA_ARCH__)
  return floorf(x);
#else
  return __builtin_floorf(x);
#endif
}

// Ties to even (the default rounding mode on both).
QRES_HOST_DEVICE float RoundEven(float x) {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return __builtin_nearbyintf(x);
#endif
}

// One enum per concept, shared by the quantizer, the CPU loops, the CUDA host code and the kernels
// (int32 underneath: they travel in kernel arguments).
enum class Rounding : int32_t { kHalfUp, kFloor, kNearestEven, kStochastic };
enum class Schedule : int32_t { kNone, kBump, kLog };  // the quantization schedule
enum class StepRule : int32_t { kAdam, kSgd };         // the optimizer rule of a fused step

// R(fl(h · scale)) for element j of a tensor whose random stream is `key`.
template <Rounding kRounding>
QRES_HOST_DEVICE float Round(float h, float scale, uint64_t key, int64_t j) {
  const float x = h * scale;
  if constexpr (kRounding == Rounding::kHalfUp) {
    return Floor(x + 0.5f);
  } else if constexpr (kRounding == Rounding::kFloor) {
    return Floor(x);
  } else if constexpr (kRounding == Rounding::kNearestEven) {
    return RoundEven(x);
  } else {
    return Floor(x + UniformFloat(key, static_cast<uint64_t>(j)));
  }
}

QRES_HOST_DEVICE float RoundAny(Rounding rounding, float h, float scale, uint64_t key, int64_t j) {
  switch (rounding) {
    case Rounding::kHalfUp:
      return Round<Rounding::kHalfUp>(h, scale, key, j);
    case Rounding::kFloor:
      return Round<Rounding::kFloor>(h, scale, key, j);
    case Rounding::kNearestEven:
      return Round<Rounding::kNearestEven>(h, scale, key, j);
    default:
      return Round<Rounding::kStochastic>(h, scale, key, j);
  }
}

// Non-finite elements of an update h (NaN, ±inf: one bad gradient element) take no part in any
// whole-tensor decision (algorithm.md Q3): the zero tests, the zero-update test and the log
// schedule's norm are over the finite elements only, so the rest of the tensor trains on; the
// non-finite elements themselves step as they are and stay non-finite, as in torch.optim. (The
// reference sees a NaN sum as nonzero for ever: one NaN element freezes its tensor's index.)
// x - x is 0 exactly for finite x and NaN otherwise, in every rounding mode: a test that vectorises.
QRES_HOST_DEVICE bool IsFinite(float x) { return x - x == 0.0f; }
QRES_HOST_DEVICE bool IsFinite(double x) { return x - x == 0.0; }

// The bump rule's "sum" zero test adds the rounded values q of a tensor's finite h exactly, as
// int64 (wrapping alike on every device), and counts apart the values int64 cannot hold (an
// overflowed h·Q_p, or |q| >= 2^63): any of those makes the update nonzero, as the reference's
// float32 sum is then infinite or huge, never 0. (Converted, they would give x86's INT64_MIN or
// CUDA's saturated values, and two INT64_MIN sum to 0.) No member functions: this header's
// functions have internal linkage, so the AVX2 file's copies never stand in for another file's.
struct RoundedTotal {
  int64_t sum = 0;
  int64_t unfit = 0;  // values int64 cannot hold
};
QRES_HOST_DEVICE bool IsZero(const RoundedTotal& total) { return total.sum == 0 && total.unfit == 0; }

// How the quantizer rounds a tensor's update h: q = R(fl(h · scale)), and what its zero test adds
// (the fused CPU loops' description of a rounding pass).
struct RoundedSum {
  float scale = 0.0f;  // 0: do not compute
  Rounding rounding = Rounding::kHalfUp;
  uint64_t stream_key = 0;
  bool count_nonzero = false;  // the all_zero test: count the nonzero q instead of summing them
};
QRES_HOST_DEVICE bool FitsInt64(float q) { return (q < 0.0f ? -q : q) < 9223372036854775808.0f; }  // NaN: no

// p + q/scale: a quantized update q/scale added to the parameter.
QRES_HOST_DEVICE float AddQuantized(float p, float q, float scale) { return p + q / scale; }

// The reference's decoupled decay p.add_(p, alpha=factor).
QRES_HOST_DEVICE float Decay(float p, float factor) { return Fma(p, factor, p); }

// The log schedule's warm-up offset h + r, r = h · factor.
QRES_HOST_DEVICE float AddOffset(float h, float factor) { return h + h * factor; }

// The reference-form (HuggingFace-style) Adam, per element. Scalars are rounded to float once.
struct AdamScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, l2;
};

// Updates the moments m, v from gradient g (with the coupled L2 term g + l2·p when kL2) and
// returns the denominator fl(√v + ε).
template <bool kL2>
QRES_HOST_DEVICE float AdamMoments(const AdamScalars& s, float p, float g, float& m, float& v) {
  if (kL2) g = Fma(p, s.l2, g);
  m = Fma(g, s.one_minus_beta1, m * s.beta1);
  v = Fma(s.one_minus_beta2 * g, g, v * s.beta2);
  return Sqrt(v) + s.eps;
}
// The update to be quantized, h = fl(fl(m / d) · (−α_t)) (ATen's mul of the addcdiv result).
QRES_HOST_DEVICE float AdamUpdate(float m, float denom, float neg_step) { return (m / denom) * neg_step; }
// The unquantized step p + fl(fl(−α_t · m) / d) (ATen's addcdiv).
QRES_HOST_DEVICE float AdamApply(float p, float m, float denom, float neg_step) { return p + (neg_step * m) / denom; }

// torch.optim.SGD's direction, per element.
struct SgdScalars {
  float weight_decay, momentum, one_minus_dampening;
  bool nesterov;
};

// d = g + wd·p (when wd != 0), then with momentum (kMomentum) buf = first ? d :
// fma(d, 1−dampening, fl(buf·momentum)) and d = nesterov ? fma(buf, momentum, d) : buf.
template <bool kMomentum>
QRES_HOST_DEVICE float SgdDirection(const SgdScalars& s, float p, float g, float* buffer, bool first) {
  float d = g;
  if (s.weight_decay != 0.0f) d = Fma(p, s.weight_decay, d);
  if (kMomentum) {
    const float buf = first ? d : Fma(d, s.one_minus_dampening, *buffer * s.momentum);
    *buffer = buf;
    d = s.nesterov ? Fma(buf, s.momentum, d) : buf;
  }
  return d;
}
QRES_HOST_DEVICE float SgdUpdate(float d, float neg_lr) { return d * neg_lr; }
QRES_HOST_DEVICE float SgdApply(float p, float d, float neg_lr) { return Fma(d, neg_lr, p); }

// ‖h‖² in a fixed order that the GPU follows too (one chunk per block, one lane per thread), so
// every device gets the same bits: squares in float64 (exact for float32 h); in each chunk of
// kNormChunk elements, lane l sums elements l, l + kNormLanes, ... in order; the lanes are added
// as a tree (lane l += lane l + w for w = kNormLanes/2, ..., 1); chunks are added in order.
constexpr int64_t kNormChunk = 2048;
constexpr int kNormLanes = 256;

// One chunk's sum (count <= kNormChunk elements).
template <typename T>
double ChunkSumSquares(const T* h, int64_t count) {
  double lanes[kNormLanes];
  for (int l = 0; l < kNormLanes; ++l) lanes[l] = 0.0;
  for (int64_t row = 0; row < count; row += kNormLanes) {  // lane l gets element row + l
    const int width = static_cast<int>(count - row < kNormLanes ? count - row : kNormLanes);
    for (int l = 0; l < width; ++l) {
      const double x = static_cast<double>(h[row + l]);
      lanes[l] += IsFinite(x) ? x * x : 0.0;  // non-finite elements take no part (IsFinite)
    }
  }
  for (int w = kNormLanes / 2; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) lanes[l] += lanes[l + w];
  }
  return lanes[0];
}

template <typename T>
double SumSquaresInOrder(const T* h, int64_t n) {
  double total = 0.0;
  for (int64_t begin = 0; begin < n; begin += kNormChunk) {
    total += ChunkSumSquares(h + begin, n - begin < kNormChunk ? n - begin : kNormChunk);
  }
  return total;
}

}  // namespace qres::optim::step_math

#endif  // QRES_OPTIM_STEP_MATH_H_
