// What one parameter tensor does at one optimizer step. The optimizers describe each tensor's
// step once (AdamFamily, Sgd) and every path reads the same description: the fused CPU loops
// (fused_cpu.h), the fused CUDA step (cuda_stepper.h, whose kernels' table rows are copied from
// it) and the quantizer (its QuantizeStep). The foreach ATen path, which takes any tensors, uses
// QuantizeStep alone.
#ifndef QRES_OPTIM_TENSOR_STEP_H_
#define QRES_OPTIM_TENSOR_STEP_H_

#include <cstdint>

#include "qres/optim/step_math.h"

namespace qres::optim {

// What the quantizer needs to know about one tensor's update at this step.
struct QuantizeStep {
  int64_t id = 0;       // the tensor's position in the optimizer: per-tensor state, RNG stream
  int64_t step = 0;     // the schedule time τ (QSGD counts 0, 1, ...; Adam variants 1, 2, ...)
  bool first = false;   // the tensor's first update (for check_first_step)
  double lambda = 0.0;  // the log schedule's offset scale (lr for SGD, α_t for Adam)
};

// One dense float32 parameter tensor's step. Raw pointers: the optimizer keeps the tensors alive
// and has checked them (ChooseStepPath); no reference counting on the hot path. Scalars are
// rounded to float once, here, as every path uses them.
struct TensorStep {
  float* param = nullptr;
  const float* grad = nullptr;
  float* state0 = nullptr;  // Adam: exp_avg; SGD: the momentum buffer (nullptr without momentum)
  float* state1 = nullptr;  // Adam: exp_avg_sq
  int64_t numel = 0;
  step_math::AdamScalars adam{};
  bool coupled_l2 = false;  // Adam: g + l2·p
  step_math::SgdScalars sgd{};
  bool first_buffer = false;  // SGD: the momentum buffer's first step (buf = d)
  float neg_step = 0.0f;      // Adam: −α_t; SGD: −lr
  float decay = 0.0f;         // −lr·wd of the reference's decoupled decay after the update; 0: none
  QuantizeStep quantize;      // read only when the step is quantized
};

}  // namespace qres::optim

#endif  // QRES_OPTIM_TENSOR_STEP_H_
