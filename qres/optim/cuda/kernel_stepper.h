// The host side of the fused step (cuda_stepper.h): fills the kernels' tensor table and launch
// arguments from the optimizer's TensorSteps, keeps the workspaces between steps, and owns the
// quantizer's device state (the bump index, per-tensor indices and trend between steps). Where the
// kernels run is the Backend's business: the GPU (gpu_backend.cc) or the SIMT emulator on the CPU
// (emulator_backend.h, for tests).
// Nothing here waits for the device.
#ifndef QRES_OPTIM_CUDA_KERNEL_STEPPER_H_
#define QRES_OPTIM_CUDA_KERNEL_STEPPER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "c10/core/Device.h"
#include "qres/optim/cuda/kernel_args.h"
#include "qres/optim/cuda_stepper.h"

namespace qres::optim {

// `buffer` if it holds at least `numel` elements of `type` on `device`, else a new one (zeroed
// when asked): device buffers are reallocated only to grow (on a GPU the stream orders a new
// buffer after every kernel that used the old one).
at::Tensor& GrowToAtLeast(at::Tensor& buffer, int64_t numel, at::ScalarType type, c10::Device device, bool zeroed);

// The bump schedule's state on the device between steps.
struct DeviceBumpState {
  at::Tensor index;           // int64 [1]
  at::Tensor tensor_indices;  // int64 [ids]: the per_tensor scope's indices
  at::Tensor trend;           // double [capacity]: index() after each step not yet exported
  int64_t trend_size = 0;
};

class KernelStepper final : public CudaStepper {
 public:
  class Backend {
   public:
    virtual ~Backend() = default;
    // Called first in every step, before anything of it touches `device`: orders the step after
    // the previous one (they share workspaces and state) where the device's own order does not.
    virtual void BeginStep(c10::Device device) = 0;
    // What Upload copies: the rows, the block-to-row map, or the step's values (graph mode).
    enum class Buffer { kRows, kBlockRows, kValues };
    // Makes `bytes` bytes at `data` readable by the kernels on `device`, in buffer `which` (its
    // earlier contents are read by the kernels queued before); returns their address there, the
    // same for the same size. Called only when the contents changed since the last call.
    virtual const void* Upload(Buffer which, const void* data, size_t bytes, c10::Device device) = 0;
    // Enqueues the step (cuda::LaunchFusedStep) on `device`; throws c10::Error on failure.
    virtual void Launch(const cuda::StepLaunch& launch, c10::Device device) = 0;
  };

  explicit KernelStepper(std::unique_ptr<Backend> backend) : backend_(std::move(backend)) {}

  void Step(step_math::StepRule rule, c10::Device device, const std::vector<TensorStep>& tensors,
            Quantizer* quantizer) override;
  QuantizerState DeviceState(const Quantizer& quantizer) const override;
  void ExportTo(Quantizer& quantizer) override;
  void SetGraphMode(bool on) override;
  void LaunchPending() override;
  std::string PendingLaunchKey() const override;

 private:
  // Moves the rows' distinct PerStep values into the launch's arguments (at most kStepVariants;
  // with more, each row keeps its own in the table).
  void MoveStepsToVariants(cuda::StepLaunch& launch);
  void PrepareBump(const Quantizer& quantizer, bool start_from_host, cuda::StepLaunch& launch, c10::Device device);

  std::unique_ptr<Backend> backend_;
  std::vector<cuda::StepRow> rows_, uploaded_;
  const cuda::StepRow* rows_on_device_ = nullptr;
  c10::Device uploaded_to_ = c10::Device(c10::kCPU);
  // The row of each block (cuda::StepLaunch::block_rows): uploaded when the tensors' sizes change,
  // not with every new table.
  const int32_t* block_rows_on_device_ = nullptr;
  at::Tensor update_;       // float: every tensor's update h, back to back
  at::Tensor table_;        // int64: the bump rule's rounded sums; zero between steps
  at::Tensor chosen_;       // int64: the bump rule's index per row
  at::Tensor partials_;     // double: the log schedule's per-chunk Σh²
  at::Tensor factors_;      // double: the log schedule's offset factor per row
  at::Tensor blocks_done_;  // int32 [1]: the direction kernel's finished blocks; zero between steps
  DeviceBumpState bump_;
  bool graph_mode_ = false;
  std::optional<cuda::StepLaunch> pending_;  // graph mode: the last step's launch, not yet enqueued
  c10::Device pending_device_ = c10::Device(c10::kCPU);
};

}  // namespace qres::optim

#endif  // QRES_OPTIM_CUDA_KERNEL_STEPPER_H_
