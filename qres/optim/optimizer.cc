#include "qres/optim/optimizer.h"

#include <optional>

#include "c10/core/GradMode.h"

namespace qres::optim {
namespace {
bool fused_cuda_path_for_cpu_tensors = false;
}  // namespace

void SetFusedCudaPathForCpuTensors(bool on) { fused_cuda_path_for_cpu_tensors = on; }

std::string ToString(StepPath path) {
  switch (path) {
    case StepPath::kAten:
      return "ATen ops";
    case StepPath::kFusedCpu:
      return "fused CPU loops";
    case StepPath::kFusedCuda:
      return "fused CUDA step";
  }
  return "?";
}

at::Tensor EvaluateClosure(const torch::optim::Optimizer::LossClosure& closure) {
  if (closure == nullptr) return at::Tensor();
  at::AutoGradMode enable_grad(true);
  return closure();
}

at::Tensor QresOptimizer::StepOnItsPath(const torch::optim::Optimizer::LossClosure& closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = EvaluateClosure(closure);
  const StepPath path = step_path();
  if (path == StepPath::kAten) {
    StepAten();
  } else {
    StepFused(path);
  }
  return loss;
}

const Quantizer* QuantizerOf(torch::optim::Optimizer& optimizer) {
  auto* qres_optimizer = dynamic_cast<QresOptimizer*>(&optimizer);
  if (qres_optimizer == nullptr) return nullptr;
  const Quantizer& quantizer = qres_optimizer->quantizer();
  return quantizer.options().schedule == QuantSchedule::kNone ? nullptr : &quantizer;
}

std::optional<StepPath> StepPathOf(const torch::optim::Optimizer& optimizer) {
  const auto* qres_optimizer = dynamic_cast<const QresOptimizer*>(&optimizer);
  if (qres_optimizer == nullptr) return std::nullopt;
  return qres_optimizer->step_path();
}

StepPath ChooseStepPath(const std::vector<torch::optim::OptimizerParamGroup>& groups, bool cpu_loops,
                        bool cuda_kernels) {
  std::optional<c10::Device> device;
  for (const auto& group : groups) {
    for (const at::Tensor& param : group.params()) {
      auto dense = [](const at::Tensor& t) {
        return t.scalar_type() == at::kFloat && t.is_contiguous() && !t.is_sparse();
      };
      const at::Tensor& grad = param.grad();
      if (!dense(param) ||
          (grad.defined() && (!dense(grad) || grad.sizes() != param.sizes() || grad.device() != param.device()))) {
        return StepPath::kAten;
      }
      if (device && *device != param.device()) return StepPath::kAten;
      device = param.device();
    }
  }
  if (!device) return StepPath::kAten;
  if (device->is_cpu() && cuda_kernels && fused_cuda_path_for_cpu_tensors) return StepPath::kFusedCuda;
  if (device->is_cpu() && cpu_loops) return StepPath::kFusedCpu;
  if (device->is_cuda() && cuda_kernels) return StepPath::kFusedCuda;
  return StepPath::kAten;
}

}  // namespace qres::optim
