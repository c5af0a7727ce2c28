// The fused CUDA step of the optimizers (CUDA-free interface). //qres/optim/cuda, built with
// --config=cuda, registers the implementation at start-up; AdamFamily (reference form) and Sgd
// use it for dense float32 parameters on one GPU.
//
// A step is at most two kernel launches, whatever the number of tensors:
//   (1) direction: moments and update of every element, plus the bump rule's rounded sums for a
//       few candidate indices or the log schedule's ‖h‖ partial sums; the last block to finish
//       then resolves the step (the bump rule, or the offset factors s·λ/‖h‖);
//   (2) apply: param += [h]_Q, then the decoupled decay.
// Unquantized steps, and the log schedule once its warm-up offset is off or has decayed to 0, are
// (1) alone, updating the parameters in the same pass. A step does not wait for the GPU, except
// the first quantized step after the quantizer's state was read or loaded on the host (it copies
// the index back up). The tensor table is copied to the device only when it changed. The
// arithmetic is step_math.h's, so the results equal the CPU loops' bit for bit
// (fused_step_emulated_test runs the kernels on the CPU in CI; optimizer_cuda_test on a GPU).
#ifndef QRES_OPTIM_CUDA_STEP_H_
#define QRES_OPTIM_CUDA_STEP_H_

#include <memory>
#include <vector>

#include "ATen/core/Tensor.h"
#include "c10/core/Device.h"
#include "qres/optim/quantizer.h"
#include "qres/optim/step_math.h"

namespace qres::optim {

using CudaRule = step_math::StepRule;

// One parameter tensor of a step: raw pointers into dense float32 tensors on the step's device
// (the optimizer keeps the tensors alive; no reference counting on the hot path).
struct CudaStepTensor {
  float* param = nullptr;
  const float* grad = nullptr;
  float* state0 = nullptr;  // Adam: exp_avg; SGD: the momentum buffer (nullptr without momentum)
  float* state1 = nullptr;  // Adam: exp_avg_sq
  int64_t numel = 0;
  step_math::AdamScalars adam{};
  bool coupled_l2 = false;  // Adam: g + l2·p
  step_math::SgdScalars sgd{};
  bool first = false;    // SGD: the momentum buffer's first step (buf = d)
  float neg_step = 0.0f;  // Adam: −α_t; SGD: −lr
  float decay = 0.0f;     // −lr·wd of the reference's decoupled decay after the update; 0: none
  TensorStep quantizer_step;  // for a quantized step
};

class CudaStepper {
 public:
  virtual ~CudaStepper() = default;
  // One step of `tensors` (not empty) on `device`'s current stream. With `quantizer` (its
  // schedule not none) the updates are quantized by it: one quantizer call.
  virtual void Step(CudaRule rule, c10::Device device, const std::vector<CudaStepTensor>& tensors,
                    Quantizer* quantizer) = 0;
};

// The address of a dense float32 tensor's first element, without data_ptr<float>()'s checks
// (the caller has checked: ChooseStepPath).
inline float* FloatData(const at::Tensor& t) { return static_cast<float*>(t.data_ptr()); }

// What an optimizer keeps for its CUDA steps: the tensor list it refills each step and the
// stepper (made at the first step, it keeps device buffers between steps).
class CudaStepRunner {
 public:
  // Starts a step's tensor list.
  void Clear() { tensors_.clear(); }
  // Appends `param` (with its gradient `grad`) and returns its entry for the rule's fields.
  CudaStepTensor& Add(const at::Tensor& param, const at::Tensor& grad);
  // Runs the step over the tensors added since Clear() (nothing when there are none).
  void Run(CudaRule rule, Quantizer* quantizer);

 private:
  std::vector<CudaStepTensor> tensors_;
  c10::Device device_ = c10::Device(c10::kCUDA);
  std::unique_ptr<CudaStepper> stepper_;
};

using CudaStepperFactory = std::unique_ptr<CudaStepper> (*)();
void RegisterCudaStepper(CudaStepperFactory factory);
// A new stepper (it keeps device buffers between steps), or nullptr when the CUDA library is not
// linked in.
std::unique_ptr<CudaStepper> MakeCudaStepper();
bool CudaStepperRegistered();

}  // namespace qres::optim

#endif  // QRES_OPTIM_CUDA_STEP_H_
