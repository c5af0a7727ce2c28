#include "qres/optim/step_runner.h"

#include <algorithm>

#include "c10/util/Exception.h"
#include "qres/optim/fused_cpu.h"

namespace qres::optim {

void StepRunner::Run(step_math::StepRule rule, StepPath path, c10::Device device) {
  if (steps_.empty()) return;
  TORCH_CHECK(!graph_mode_ || path == StepPath::kFusedCuda, "an optimizer in graph mode steps on the fused CUDA ",
              "step only, and this step would run on ", ToString(path));
  if (path == StepPath::kFusedCpu) return RunCpu(rule);
  TORCH_INTERNAL_ASSERT(path == StepPath::kFusedCuda, "StepRunner runs the fused paths only");
  if (!cuda_) cuda_ = MakeCudaStepper();
  TORCH_INTERNAL_ASSERT(cuda_ != nullptr, "no CUDA stepper is registered");
  cuda_->Step(rule, device, steps_, quantized() ? &quantizer_ : nullptr);
}

void StepRunner::RunCpu(step_math::StepRule rule) {
  const bool quantize = quantized();
  float* update = nullptr;
  if (quantize) {
    HostQuantizer();  // a CPU step after CUDA steps continues from the device's index
    int64_t largest = 0;
    for (const TensorStep& step : steps_) largest = std::max(largest, step.numel);
    if (static_cast<int64_t>(update_.size()) < largest) update_.resize(largest);
    update = update_.data();
  }
  for (const TensorStep& step : steps_) {
    if (rule == step_math::StepRule::kAdam) {
      fused_cpu::AdamReference(step, update);
    } else {
      fused_cpu::Sgd(step, update);
    }
    if (quantize) quantizer_.QuantizeAndAdd(step.param, update, step.numel, step.quantize);
    if (step.decay != 0.0f) fused_cpu::DecayInPlace(step.param, step.numel, step.decay);
  }
  if (quantize) quantizer_.FinishStep();
}

bool StepRunner::SetGraphMode(bool on, StepPath path) {
  if (on && path != StepPath::kFusedCuda) return false;
  if (!cuda_) cuda_ = MakeCudaStepper();
  if (!cuda_) return !on;
  cuda_->SetGraphMode(on);
  graph_mode_ = on;
  return true;
}

void StepRunner::LaunchPending() {
  if (cuda_) cuda_->LaunchPending();
}

std::string StepRunner::PendingLaunchKey() const { return cuda_ ? cuda_->PendingLaunchKey() : std::string(); }

Quantizer& StepRunner::HostQuantizer() {
  if (cuda_ && quantizer_.device_ahead()) cuda_->ExportTo(quantizer_);
  return quantizer_;
}

void StepRunner::Save(torch::serialize::OutputArchive& archive) const {
  if (cuda_ && quantizer_.device_ahead()) {
    Quantizer::Save(cuda_->DeviceState(quantizer_), archive);
  } else {
    Quantizer::Save(quantizer_.state(), archive);
  }
}

void StepRunner::Load(torch::serialize::InputArchive& archive) { quantizer_.Load(archive); }

}  // namespace qres::optim
