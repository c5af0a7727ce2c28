// Single-pass CPU loops for the optimizers' hot path, rounding exactly as the ATen ops they
// replace (so the golden trajectories still match bit for bit):
//   mul(t, s)          fl(t · s)                 s cast to float, as ATen's float opmath
//   add(a, b, alpha)   fma(b, alpha, a)          ATen's CPU kernels fuse it (vector and tail)
//   addcmul(a, x, y, c) fma(fl(c · x), y, a)
//   addcdiv(a, x, y, c) fl(a + fl(fl(c · x) / y))
//   div(t, s)          fl(t / s)                 a true division, not a reciprocal
// The loops are compiled for AVX2 + FMA; Available() says whether this CPU has them (otherwise
// the optimizers use their foreach ATen path, which gives the same numbers, only slower).
#ifndef QRES_OPTIM_FUSED_CPU_H_
#define QRES_OPTIM_FUSED_CPU_H_

#include <cstdint>

#include "qres/optim/step_math.h"
#include "qres/optim/tensor_step.h"

namespace qres::optim::fused_cpu {

bool Available();

// Tests and benchmarks turn the fused path off to compare it with the ATen path.
void SetEnabled(bool enabled);
bool Enabled();

using step_math::RoundedSum;  // how the quantizer rounds: q = R(fl(h · scale))

// The reference (HuggingFace-style) Adam step of one tensor, in one pass:
//   g' = g + l2·p (when step.coupled_l2)
//   m = fma(g', 1−β1, fl(m·β1));  v = fma(fl((1−β2)·g'), g', fl(v·β2));  d = fl(√v + ε)
// (√ correctly rounded) then, with update != nullptr: h = fl(fl(m / d) · neg_step), the update
// to be quantized; otherwise p = fl(p + fl(fl(neg_step · m) / d)). The decay is not applied.
void AdamReference(const TensorStep& step, float* update);

// p = fma(p, factor, p): the reference's decoupled decay p.add_(p, alpha=−lr·wd).
void DecayInPlace(float* param, int64_t numel, float factor);

// SGD's direction and update of one tensor, as torch.optim.SGD:
//   d = g + wd·p;  buf = first_buffer ? d : fma(d, 1−dampening, fl(buf·momentum));
//   d = nesterov ? fma(buf, momentum, d) : buf   (when there is a momentum buffer, state0)
// then, with update != nullptr: h = fl(d · neg_step); otherwise p = fma(d, neg_step, p).
void Sgd(const TensorStep& step, float* update);

// With q = R(fl(h · scale)) for the deterministic roundings (half_up floor(x + ½), floor,
// nearest_even) or floor(fl(h · scale) + u) with u from (stream_key, element) for stochastic:
// SumRounded returns Σ q exactly (as int64, with the values int64 cannot hold counted apart: see
// step_math::RoundedTotal), or the number of nonzero q;
step_math::RoundedTotal SumRounded(const float* h, int64_t numel, const RoundedSum& sum);
// AddRounded does p = fl(p + fl(q / scale)).
void AddRounded(float* param, const float* h, int64_t numel, const RoundedSum& rounding);

// h = fl(h + fl(h · factor)) in place: the log schedule's warm-up offset h + r.
void AddOffset(float* h, int64_t numel, float factor);

// ‖h‖² exactly as step_math::SumSquaresInOrder (chunks in parallel, then added in order).
double SumSquaresInOrder(const float* h, int64_t numel);

}  // namespace qres::optim::fused_cpu

#endif  // QRES_OPTIM_FUSED_CPU_H_
