#include "qres/optim/sgd.h"

#include <cmath>
#include <utility>

#include "ATen/ops/_foreach_add.h"
#include "ATen/ops/_foreach_mul.h"
#include "ATen/ops/empty_like.h"
#include "absl/strings/str_cat.h"
#include "c10/core/GradMode.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/optim/fused_cpu.h"
#include "torch/optim/serialize.h"

namespace qres::optim {

absl::Status SgdOptions::Validate() const {
  auto check = [](double value, const char* name) -> absl::Status {
    if (value >= 0.0 && std::isfinite(value)) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(name, "=", value, " must be a finite number >= 0"));
  };
  QRES_RETURN_IF_ERROR(check(lr(), "lr"));
  QRES_RETURN_IF_ERROR(check(momentum(), "momentum"));
  QRES_RETURN_IF_ERROR(check(dampening(), "dampening"));
  QRES_RETURN_IF_ERROR(check(weight_decay(), "weight_decay"));
  if (nesterov() && (momentum() <= 0.0 || dampening() != 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nesterov=true needs momentum > 0 and dampening=0 (momentum=", momentum(),
        ", dampening=", dampening(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SgdOptions> SgdOptions::FromParams(Params& params, double lr) {
  SgdOptions options(lr);
  QRES_ASSIGN_OR_RETURN(options.momentum(), params.GetDouble("momentum", options.momentum()));
  QRES_ASSIGN_OR_RETURN(options.dampening(), params.GetDouble("dampening", options.dampening()));
  QRES_ASSIGN_OR_RETURN(options.weight_decay(),
                        params.GetDouble("weight_decay", options.weight_decay()));
  QRES_ASSIGN_OR_RETURN(options.nesterov(), params.GetBool("nesterov", options.nesterov()));
  QRES_RETURN_IF_ERROR(options.Validate());
  return options;
}

void SgdOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(dampening);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(nesterov);
}

void SgdOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, momentum);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, dampening);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, nesterov);
}

void SgdParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum_buffer);
}

void SgdParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(at::Tensor, momentum_buffer);
}

Sgd::Sgd(std::vector<at::Tensor> params, SgdOptions options, QuantizerOptions quantizer)
    : torch::optim::Optimizer({torch::optim::OptimizerParamGroup(std::move(params))},
                              std::make_unique<SgdOptions>(options)),
      quantizer_(std::move(quantizer)) {}

absl::StatusOr<std::unique_ptr<Sgd>> Sgd::Create(std::vector<at::Tensor> params,
                                                 SgdOptions options, QuantizerOptions quantizer) {
  QRES_RETURN_IF_ERROR(options.Validate());
  QRES_RETURN_IF_ERROR(quantizer.Validate());
  return CallTorch("creating SGD", [&] {
    return std::make_unique<Sgd>(std::move(params), options, std::move(quantizer));
  });
}

void Sgd::StepFusedCuda() {
  const bool quantized = quantizer_.options().schedule != QuantSchedule::kNone;
  int64_t position = 0;  // the quantizer's tensor id
  cuda_.Clear();
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const SgdOptions&>(group.options());
    const step_math::SgdScalars scalars{static_cast<float>(options.weight_decay()),
                                        static_cast<float>(options.momentum()),
                                        static_cast<float>(1.0 - options.dampening()), options.nesterov()};
    for (const at::Tensor& param : group.params()) {
      const int64_t id = position++;
      const at::Tensor& grad = param.grad();
      if (!grad.defined()) continue;
      SgdParamState& state = InitState(param);
      CudaStepTensor& tensor = cuda_.Add(param, grad);
      tensor.sgd = scalars;
      if (options.momentum() != 0.0) {
        tensor.first = !state.momentum_buffer().defined();
        if (tensor.first) state.momentum_buffer(at::empty_like(param, at::MemoryFormat::Contiguous));
        tensor.state0 = FloatData(state.momentum_buffer());
      }
      tensor.neg_step = static_cast<float>(-options.lr());
      tensor.quantizer_step = {id, state.step(), state.step() == 0, options.lr()};
      state.step(state.step() + 1);
    }
  }
  cuda_.Run(CudaRule::kSgd, quantized ? &quantizer_ : nullptr);
}

SgdParamState& Sgd::InitState(const at::Tensor& param) {
  auto& slot = state_[param.unsafeGetTensorImpl()];
  if (!slot) slot = std::make_unique<SgdParamState>();
  return static_cast<SgdParamState&>(*slot);
}

void Sgd::StepFusedCpu() {
  const bool quantized = quantizer_.options().schedule != QuantSchedule::kNone;
  int64_t position = 0;
  bool any = false;
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const SgdOptions&>(group.options());
    for (const at::Tensor& param : group.params()) {
      const int64_t id = position++;
      if (!param.grad().defined()) continue;
      SgdParamState& state = InitState(param);
      const bool first_buffer = options.momentum() != 0.0 && !state.momentum_buffer().defined();
      if (first_buffer) state.momentum_buffer(at::empty_like(param, at::MemoryFormat::Contiguous));
      const int64_t numel = param.numel();
      float* p = param.data_ptr<float>();
      if (quantized && static_cast<int64_t>(update_.size()) < numel) update_.resize(numel);
      const fused_cpu::SgdArgs args{
          p, param.grad().data_ptr<float>(),
          options.momentum() != 0.0 ? state.momentum_buffer().data_ptr<float>() : nullptr,
          quantized ? update_.data() : nullptr, numel, options.weight_decay(), options.momentum(),
          options.dampening(), -options.lr(), options.nesterov(), first_buffer};
      if (quantized) {
        const TensorStep step{id, state.step(), state.step() == 0, options.lr()};
        fused_cpu::Sgd(args);
        quantizer_.QuantizeAndAdd(p, update_.data(), numel, step);
        any = true;
      } else {
        fused_cpu::Sgd(args);
      }
      state.step(state.step() + 1);
    }
  }
  if (any) quantizer_.FinishStep();
}

StepPath Sgd::step_path() const {
  return ChooseStepPath(param_groups_, fused_cpu::Enabled(), CudaStepperRegistered());
}

at::Tensor Sgd::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = EvaluateClosure(closure);
  switch (step_path()) {
    case StepPath::kFusedCpu:
      StepFusedCpu();
      return loss;
    case StepPath::kFusedCuda:
      StepFusedCuda();
      return loss;
    case StepPath::kAten:
      break;
  }
  const bool quantized = quantizer_.options().schedule != QuantSchedule::kNone;
  int64_t position = 0;  // the parameter's index over all groups: the quantizer's tensor id
  // Quantized updates of every group, quantized together: one quantizer call per step.
  std::vector<at::Tensor> quantized_params, updates;
  std::vector<TensorStep> quantized_steps;
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const SgdOptions&>(group.options());
    std::vector<at::Tensor> params, grads, buffers;
    std::vector<TensorStep> steps;
    std::vector<SgdParamState*> states;
    for (const at::Tensor& param : group.params()) {
      const int64_t id = position++;
      if (!param.grad().defined()) continue;
      SgdParamState* state = &InitState(param);
      params.push_back(param);
      grads.push_back(param.grad());
      states.push_back(state);
      steps.push_back({id, state->step(), state->step() == 0, options.lr()});
    }
    if (params.empty()) continue;

    std::vector<at::Tensor> direction = grads;
    if (options.weight_decay() != 0.0) {
      direction = at::_foreach_add(grads, params, options.weight_decay());
    }
    if (options.momentum() != 0.0) {
      // torch.optim.SGD: the first step's buffer is a copy of the direction.
      std::vector<at::Tensor> old_buffers, old_directions;
      for (size_t i = 0; i < states.size(); ++i) {
        if (!states[i]->momentum_buffer().defined()) {
          states[i]->momentum_buffer(direction[i].clone().detach());
        } else {
          old_buffers.push_back(states[i]->momentum_buffer());
          old_directions.push_back(direction[i]);
        }
        buffers.push_back(states[i]->momentum_buffer());
      }
      if (!old_buffers.empty()) {
        at::_foreach_mul_(old_buffers, options.momentum());
        at::_foreach_add_(old_buffers, old_directions, 1.0 - options.dampening());
      }
      direction = options.nesterov() ? at::_foreach_add(direction, buffers, options.momentum())
                                     : buffers;
    }
    if (quantized) {
      std::vector<at::Tensor> group_updates = at::_foreach_mul(direction, -options.lr());
      updates.insert(updates.end(), group_updates.begin(), group_updates.end());
      quantized_params.insert(quantized_params.end(), params.begin(), params.end());
      quantized_steps.insert(quantized_steps.end(), steps.begin(), steps.end());
    } else {
      at::_foreach_add_(params, direction, -options.lr());
    }
    for (SgdParamState* state : states) state->step(state->step() + 1);
  }
  if (quantized && !updates.empty()) {
    quantizer_.QuantizeInPlace(updates, quantized_steps);
    at::_foreach_add_(quantized_params, updates);
  }
  return loss;
}

void Sgd::save(torch::serialize::OutputArchive& archive) const {
  torch::optim::serialize<SgdParamState, SgdOptions>(archive, *this);
  quantizer_.save(archive);
}

void Sgd::load(torch::serialize::InputArchive& archive) {
  torch::optim::serialize<SgdParamState, SgdOptions>(archive, *this);
  quantizer_.load(archive);
}

}  // namespace qres::optim
