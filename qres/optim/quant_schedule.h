// The quantization schedules' rules (algorithm.md §1.2-1.3), apart from the quantizer that applies
// them to tensors: pure functions of the options and the step, shared by the quantizer (CPU and
// ATen paths) and the CUDA host code, whose kernels run the bump rule's loop on the device.
#ifndef QRES_OPTIM_QUANT_SCHEDULE_H_
#define QRES_OPTIM_QUANT_SCHEDULE_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "qres/optim/quantizer_options.h"

namespace qres::optim {

// bump: Q_p = 2^max(n, 0) (the reference clamps negative indices, so the coarsest step is 1).
double BumpResolution(int64_t index);

// The bump rule for one tensor: from index n, while the update quantized at n is zero and
// n <= limit, n += 1 (not at all when !checked). Returns the final n.
int64_t AdvanceIndex(int64_t n, int64_t limit, bool checked, const std::function<bool(int64_t)>& is_zero);

// The bump rule over a sequence of tensors (global scope): starting at index `start`, tensor i
// ends at the smallest k >= (previous tensor's index) whose quantized update is not zero, or at
// limit + 1; a tensor with checked[i] == false keeps the previous index. `is_zero(i, k)` is asked
// only for the (i, k) the sequential rule visits, so it may be computed lazily (CPU) or looked up
// in a table of candidate indices computed at once (GPU: qres/optim/cuda/kernels.inl runs the
// same rule on the device).
std::vector<int64_t> ResolveBumpIndices(int64_t start, int64_t limit, const std::vector<bool>& checked,
                                        const std::function<bool(size_t, int64_t)>& is_zero);

// log: Q_p = eta · base^floor(log_base(ln(t_e + 2))), t_e = step / batches_per_epoch.
double LogResolution(const QuantizerOptions& options, int64_t step);
// log: the scale s·λ of the warm-up offset r = (s·λ/‖h‖)·h, s = ½(1 + tanh(−κ(t_e − epochs·warmup)));
// 0 when the offset is off.
double OffsetScale(const QuantizerOptions& options, int64_t step, double lambda);
// log: the offset's factor for an update of norm `norm` (0 when the offset is off, or ‖h‖ is 0);
// the GPU divides the same two numbers.
double OffsetFactor(const QuantizerOptions& options, int64_t step, double lambda, double norm);

}  // namespace qres::optim

#endif  // QRES_OPTIM_QUANT_SCHEDULE_H_
