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
  // The buffer b <- momentum·b + (1 - dampening)·g: momentum >= 1 never forgets a gradient (it grows
  // without bound), dampening > 1 turns the gradient's sign.
  if (momentum() >= 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("momentum=", momentum(), " must be < 1 (the buffer would grow without bound)"));
  }
  if (dampening() > 1.0) {
    return absl::InvalidArgumentError(
        absl::StrCat("dampening=", dampening(), " must be <= 1 (the gradient's sign would turn)"));
  }
  // w <- w - lr·(g + weight_decay·w): at lr·weight_decay >= 1 the decay alone sends w to or past zero.
  if (lr() * weight_decay() >= 1.0) {
    return absl::InvalidArgumentError(absl::StrCat("weight_decay=", weight_decay(), " with lr=", lr(),
                                                   ": lr x weight_decay must be < 1 (the decay alone would send "
                                                   "the weights to or past zero each step)"));
  }
  if (nesterov() && (momentum() <= 0.0 || dampening() != 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nesterov=true needs momentum > 0 and dampening=0 (momentum=", momentum(), ", dampening=", dampening(), ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<SgdOptions> SgdOptions::FromParams(Params& params, double lr) {
  SgdOptions options(lr);
  QRES_ASSIGN_OR_RETURN(options.momentum(), params.GetDouble("momentum", options.momentum()));
  QRES_ASSIGN_OR_RETURN(options.dampening(), params.GetDouble("dampening", options.dampening()));
  QRES_ASSIGN_OR_RETURN(options.weight_decay(), params.GetDouble("weight_decay", options.weight_decay()));
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
    : OptimizerFamily(std::move(params), options, std::move(quantizer)) {}

void Sgd::ImportState(const at::Tensor& param, const ParamStateSnapshot& state) {
  SgdParamState& imported = FreshStateOf(param);
  imported.step(state.step);
  const at::Tensor& buffer = state.buffers.at(0);
  if (buffer.defined() && buffer.numel() > 0) imported.momentum_buffer(buffer);  // empty: none yet
}

ParamStateSnapshot Sgd::ExportState(const at::Tensor& param) const {
  const SgdParamState& state = ExistingStateOf(param);
  return {state.step(), {state.momentum_buffer()}};
}

absl::StatusOr<std::unique_ptr<Sgd>> Sgd::Create(std::vector<at::Tensor> params, SgdOptions options,
                                                 QuantizerOptions quantizer) {
  QRES_RETURN_IF_ERROR(options.Validate());
  QRES_RETURN_IF_ERROR(quantizer.Validate());
  return CallTorch("creating SGD",
                   [&] { return std::make_unique<Sgd>(std::move(params), options, std::move(quantizer)); });
}

void Sgd::StepFused(StepPath path) {
  std::vector<TensorStep>& steps = runner_.NewStep();
  c10::Device device(c10::kCPU);
  ForEachGroupWithGrads<SgdOptions>(
      param_groups_, [&](const SgdOptions& options, const std::vector<ParamWithGrad>& params) {
        const step_math::SgdScalars scalars{static_cast<float>(options.weight_decay()),
                                            static_cast<float>(options.momentum()),
                                            static_cast<float>(1.0 - options.dampening()), options.nesterov()};
        for (const auto& [param, id] : params) {
          SgdParamState& state = InitState(param);
          TensorStep& step = steps.emplace_back();
          step.param = FloatData(param);
          step.grad = FloatData(param.grad());
          step.numel = param.numel();
          step.sgd = scalars;
          if (options.momentum() != 0.0) {
            step.first_buffer = !state.momentum_buffer().defined();
            if (step.first_buffer) state.momentum_buffer(at::empty_like(param, at::MemoryFormat::Contiguous));
            step.state0 = FloatData(state.momentum_buffer());
          }
          step.neg_step = static_cast<float>(-options.lr());
          step.quantize = {id, state.step(), state.step() == 0, options.lr()};
          state.step(state.step() + 1);
          device = param.device();
        }
      });
  runner_.Run(step_math::StepRule::kSgd, path, device);
}

SgdParamState& Sgd::InitState(const at::Tensor& param) {
  return StateOf(param, [](SgdParamState&) {});  // the buffer comes at the first step
}

StepPath Sgd::step_path() const { return ChooseStepPath(param_groups_, fused_cpu::Enabled(), CudaStepperRegistered()); }

void Sgd::StepAten() {
  const bool quantized = runner_.quantized();
  // Quantized updates of every group, quantized together: one quantizer call per step.
  std::vector<at::Tensor> quantized_params, updates;
  std::vector<QuantizeStep> quantized_steps;
  ForEachGroupWithGrads<SgdOptions>(
      param_groups_, [&](const SgdOptions& options, const std::vector<ParamWithGrad>& group) {
        std::vector<at::Tensor> params, grads, buffers;
        std::vector<QuantizeStep> steps;
        std::vector<SgdParamState*> states;
        for (const auto& [param, id] : group) {
          SgdParamState* state = &InitState(param);
          params.push_back(param);
          grads.push_back(param.grad());
          states.push_back(state);
          steps.push_back({id, state->step(), state->step() == 0, options.lr()});
        }

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
          direction = options.nesterov() ? at::_foreach_add(direction, buffers, options.momentum()) : buffers;
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
      });
  if (quantized && !updates.empty()) {
    runner_.HostQuantizer().QuantizeInPlace(updates, quantized_steps);
    at::_foreach_add_(quantized_params, updates);
  }
}

}  // namespace qres::optim
