// What every optimizer family holds (OptimizerBase, optimizer_base.h): the quantizer, and the
// fused paths that run a step the optimizer described tensor by tensor (tensor_step.h) on the CPU
// loops (fused_cpu.h) or the CUDA step (cuda_stepper.h). The CUDA step keeps the quantizer's bump
// state on the device between steps; this class brings it back whenever the host needs it
// (quantizer(), HostQuantizer(), Save).
//
//   std::vector<TensorStep>& steps = runner.NewStep();
//   ... steps.push_back(...) for each parameter with a gradient, in parameter order ...
//   runner.Run(StepRule::kAdam, StepPath::kFusedCpu, device);
#ifndef QRES_OPTIM_STEP_RUNNER_H_
#define QRES_OPTIM_STEP_RUNNER_H_

#include <memory>
#include <string>
#include <vector>

#include "c10/core/Device.h"
#include "qres/optim/cuda_stepper.h"
#include "qres/optim/optimizer.h"
#include "qres/optim/quantizer.h"
#include "qres/optim/step_math.h"
#include "qres/optim/tensor_step.h"

namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

namespace qres::optim {

// The address of a dense float32 tensor's first element, without data_ptr<float>()'s checks
// (ChooseStepPath has checked every tensor of a fused step).
inline float* FloatData(const at::Tensor& t) { return static_cast<float*>(t.data_ptr()); }

class StepRunner {
 public:
  explicit StepRunner(QuantizerOptions options) : quantizer_(std::move(options)) {}

  // Whether updates are quantized (the schedule is not none).
  bool quantized() const { return quantizer_.options().schedule != QuantSchedule::kNone; }

  // The step's tensor list, emptied: the optimizer appends one TensorStep per tensor, then Run.
  std::vector<TensorStep>& NewStep() {
    steps_.clear();
    return steps_;
  }
  // Runs the tensors appended since NewStep() by `rule` on `path` (kFusedCpu, or kFusedCuda with
  // the tensors on `device`): each tensor's update, quantized (one quantizer step), then its
  // decoupled decay.
  void Run(step_math::StepRule rule, StepPath path, c10::Device device);

  // Graph mode (QresOptimizer::SetGraphMode) for steps on `path`: false where it is not the fused
  // CUDA step.
  bool SetGraphMode(bool on, StepPath path);
  void LaunchPending();
  std::string PendingLaunchKey() const;

  // The quantizer for a step on the host (the ATen path): the device's state imported first.
  Quantizer& HostQuantizer();
  // The quantizer, current: after CUDA steps this waits for the device to import its state.
  const Quantizer& quantizer() { return HostQuantizer(); }

  // The quantizer's checkpoint entries (the device's state when it is ahead; waits for it).
  void Save(torch::serialize::OutputArchive& archive) const;
  void Load(torch::serialize::InputArchive& archive);

 private:
  void RunCpu(step_math::StepRule rule);

  Quantizer quantizer_;
  std::vector<TensorStep> steps_;
  std::vector<float> update_;          // the CPU loops' update h of one tensor
  std::unique_ptr<CudaStepper> cuda_;  // made at the first CUDA step
  bool graph_mode_ = false;
};

}  // namespace qres::optim

#endif  // QRES_OPTIM_STEP_RUNNER_H_
