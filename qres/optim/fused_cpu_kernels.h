// The loops behind fused_cpu.h over one range [begin, end) of a tensor, compiled for AVX2 + FMA
// (fused_cpu_kernels.cc is the only file built with those flags; fused_cpu::Available() checks
// the CPU before anything calls them). Internal to //qres/optim:fused_cpu.
#ifndef QRES_OPTIM_FUSED_CPU_KERNELS_H_
#define QRES_OPTIM_FUSED_CPU_KERNELS_H_

#include <cstdint>

#include "qres/optim/step_math.h"
#include "qres/optim/tensor_step.h"

namespace qres::optim::fused_cpu::kernels {

using step_math::RoundedSum;

void AdamRange(const TensorStep& step, float* update, int64_t begin, int64_t end);
void SgdRange(const TensorStep& step, float* update, int64_t begin, int64_t end);
// The zero test's sum over the range (or its count of nonzero values); exact.
step_math::RoundedTotal SumRoundedRange(const float* update, const RoundedSum& rounding, int64_t begin, int64_t end);
void AddRoundedRange(float* param, const float* update, const RoundedSum& rounding, int64_t begin, int64_t end);
void DecayRange(float* param, float factor, int64_t begin, int64_t end);
void OffsetRange(float* update, float factor, int64_t begin, int64_t end);
// partials[c] = step_math::ChunkSumSquares of chunk c, for chunks [first, last) of h[0, numel).
void NormPartialsRange(const float* h, int64_t numel, int64_t first, int64_t last, double* partials);

}  // namespace qres::optim::fused_cpu::kernels

#endif  // QRES_OPTIM_FUSED_CPU_KERNELS_H_
