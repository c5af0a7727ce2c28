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
// the first quantized step after the quantizer's state was imported or loaded on the host (it
// copies the index back up). The tensor table is copied to the device only when it changed. The
// arithmetic is step_math.h's, so the results equal the CPU loops' bit for bit
// (fused_step_emulated_test runs the kernels on the CPU in CI; optimizer_cuda_test on a GPU).
#ifndef QRES_OPTIM_CUDA_STEPPER_H_
#define QRES_OPTIM_CUDA_STEPPER_H_

#include <memory>
#include <string>
#include <vector>

#include "c10/core/Device.h"
#include "qres/optim/quantizer.h"
#include "qres/optim/step_math.h"
#include "qres/optim/tensor_step.h"

namespace qres::optim {

// The fused step on a GPU. It owns the device side of the quantizer's state: the bump
// schedule's index stays on the device between steps (the quantizer is then device_ahead()).
class CudaStepper {
 public:
  virtual ~CudaStepper() = default;
  // One step of `tensors` (not empty) on `device`'s current stream. With `quantizer` (its
  // schedule not none) the updates are quantized by it: one quantizer step.
  virtual void Step(step_math::StepRule rule, c10::Device device, const std::vector<TensorStep>& tensors,
                    Quantizer* quantizer) = 0;
  // `quantizer`'s state with the device's index, per-tensor indices and trend entries in it
  // (waits for the device); its own state when it is not device_ahead().
  virtual QuantizerState DeviceState(const Quantizer& quantizer) const = 0;
  // quantizer.ImportDeviceState(DeviceState(quantizer)), once: the trend entries are handed over.
  virtual void ExportTo(Quantizer& quantizer) = 0;

  // Graph mode, for a CUDA graph that captures the step (qres/train/step_graph.h): Step does the
  // host's part only, with the values that change from step to step uploaded to device memory
  // (kernel_args.h's StepValues), and leaves its kernels to LaunchPending. Their arguments, whose
  // bytes PendingLaunchKey returns ("" for none), then stay the same from step to step, so a graph
  // that captured one step's LaunchPending replays any later step whose key is the same.
  virtual void SetGraphMode(bool on) = 0;
  virtual void LaunchPending() = 0;
  virtual std::string PendingLaunchKey() const = 0;
};

using CudaStepperFactory = std::unique_ptr<CudaStepper> (*)();
void RegisterCudaStepper(CudaStepperFactory factory);
// A new stepper (it keeps device buffers between steps), or nullptr when the CUDA library is not
// linked in.
std::unique_ptr<CudaStepper> MakeCudaStepper();
bool CudaStepperRegistered();

}  // namespace qres::optim

#endif  // QRES_OPTIM_CUDA_STEPPER_H_
