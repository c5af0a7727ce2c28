#include "qres/optim/adam.h"

#include <cmath>
#include <utility>

#include "ATen/ops/_foreach_add.h"
#include "ATen/ops/_foreach_addcdiv.h"
#include "ATen/ops/_foreach_addcmul.h"
#include "ATen/ops/_foreach_div.h"
#include "ATen/ops/_foreach_lerp.h"
#include "ATen/ops/_foreach_mul.h"
#include "ATen/ops/_foreach_sqrt.h"
#include "ATen/ops/empty_like.h"
#include "ATen/ops/zeros_like.h"
#include "absl/strings/str_cat.h"
#include "c10/core/GradMode.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/optim/fused_cpu.h"
#include "torch/optim/serialize.h"

namespace qres::optim {

absl::Status AdamOptions::Validate() const {
  const auto [beta1, beta2] = betas();
  auto fail = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (!(lr() >= 0.0) || !std::isfinite(lr())) return fail("lr=", lr(), " must be a finite number >= 0");
  if (!(beta1 >= 0.0 && beta1 < 1.0)) return fail("betas: beta1=", beta1, " must be in [0, 1)");
  if (!(beta2 >= 0.0 && beta2 < 1.0)) return fail("betas: beta2=", beta2, " must be in [0, 1)");
  if (!(eps() > 0.0) || !std::isfinite(eps())) {
    return fail("eps=", eps(), " must be a finite number > 0 (a gradient of 0 would divide 0 by 0)");
  }
  if (!(weight_decay() >= 0.0) || !std::isfinite(weight_decay())) {
    return fail("weight_decay=", weight_decay(), " must be a finite number >= 0");
  }
  // Decoupled decay scales the weights by 1 - lr·weight_decay each step: at 1 or more it sends
  // them to or past zero.
  if (decoupled_weight_decay() && lr() * weight_decay() >= 1.0) {
    return fail("weight_decay=", weight_decay(), " with lr=", lr(), ": lr x weight_decay must be < 1 (each step ",
                "scales the weights by 1 - lr x weight_decay)");
  }
  return absl::OkStatus();
}

absl::StatusOr<AdamOptions> AdamOptions::FromParams(Params& params, AdamOptions defaults) {
  AdamOptions options = defaults;
  QRES_ASSIGN_OR_RETURN(
      std::string form,
      params.GetChoice("form", options.form() == AdamForm::kTorch ? "torch" : "reference", {"torch", "reference"}));
  options.form(form == "torch" ? AdamForm::kTorch : AdamForm::kReference);
  if (options.form() != defaults.form()) {
    // Another form brings its own defaults: torch.optim's (eps 1e-8, AdamW's weight_decay 0.01),
    // so that form=torch is what torch.optim gives its users, or the reference's (eps 1e-6).
    const bool torch_form = options.form() == AdamForm::kTorch;
    options.eps(torch_form ? 1e-8 : 1e-6);
    options.weight_decay(torch_form && options.decoupled_weight_decay() ? 0.01 : 0.0);
  }
  QRES_ASSIGN_OR_RETURN(std::vector<double> betas,
                        params.GetDoubleList("betas", {std::get<0>(options.betas()), std::get<1>(options.betas())}));
  options.betas(std::make_tuple(betas[0], betas[1]));
  QRES_ASSIGN_OR_RETURN(options.eps(), params.GetDouble("eps", options.eps()));
  QRES_ASSIGN_OR_RETURN(options.weight_decay(), params.GetDouble("weight_decay", options.weight_decay()));
  QRES_RETURN_IF_ERROR(options.Validate());
  return options;
}

void AdamOptions::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
  archive.write("betas", c10::IValue(std::vector<double>{std::get<0>(betas()), std::get<1>(betas())}));
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(decoupled_weight_decay);
  archive.write("form", c10::IValue(static_cast<int64_t>(form())));
}

void AdamOptions::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
  c10::IValue ivalue;
  archive.read("betas", ivalue);
  const std::vector<double> values = ivalue.toDoubleVector();
  betas(std::make_tuple(values.at(0), values.at(1)));
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(bool, decoupled_weight_decay);
  archive.read("form", ivalue);
  form(static_cast<AdamForm>(ivalue.toInt()));
}

void AdamParamState::serialize(torch::serialize::OutputArchive& archive) const {
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(step);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg);
  _TORCH_OPTIM_SERIALIZE_TORCH_ARG(exp_avg_sq);
}

void AdamParamState::serialize(torch::serialize::InputArchive& archive) {
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(int64_t, step);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(at::Tensor, exp_avg);
  _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(at::Tensor, exp_avg_sq);
}

AdamFamily::AdamFamily(std::vector<at::Tensor> params, AdamOptions options, QuantizerOptions quantizer)
    : OptimizerFamily(std::move(params), options, std::move(quantizer)) {}

void AdamFamily::ImportState(const at::Tensor& param, const ParamStateSnapshot& state) {
  AdamParamState& imported = FreshStateOf(param);
  imported.step(state.step);
  imported.exp_avg(state.buffers.at(0));
  imported.exp_avg_sq(state.buffers.at(1));
}

ParamStateSnapshot AdamFamily::ExportState(const at::Tensor& param) const {
  const AdamParamState& state = ExistingStateOf(param);
  return {state.step(), {state.exp_avg(), state.exp_avg_sq()}};
}

absl::StatusOr<std::unique_ptr<AdamFamily>> AdamFamily::Create(std::vector<at::Tensor> params, AdamOptions options,
                                                               QuantizerOptions quantizer) {
  QRES_RETURN_IF_ERROR(options.Validate());
  QRES_RETURN_IF_ERROR(quantizer.Validate());
  return CallTorch("creating Adam",
                   [&] { return std::make_unique<AdamFamily>(std::move(params), options, std::move(quantizer)); });
}

double AdamStepSize(const AdamOptions& options, int64_t step) {
  const auto [beta1, beta2] = options.betas();
  const double t = static_cast<double>(step);
  const double bias1 = 1.0 - std::pow(beta1, t);
  if (options.form() == AdamForm::kTorch) return options.lr() / bias1;
  return options.lr() * std::sqrt(1.0 - std::pow(beta2, t)) / bias1;
}

void AdamFamily::StepFused(StepPath path) {
  std::vector<TensorStep>& steps = runner_.NewStep();
  c10::Device device(c10::kCPU);
  ForEachGroupWithGrads<AdamOptions>(param_groups_, [&](const AdamOptions& options,
                                                        const std::vector<ParamWithGrad>& params) {
    const auto [beta1, beta2] = options.betas();
    const double lr = options.lr();
    const double wd = options.weight_decay();
    const bool decoupled = options.decoupled_weight_decay();
    const step_math::AdamScalars scalars{static_cast<float>(beta1),         static_cast<float>(1.0 - beta1),
                                         static_cast<float>(beta2),         static_cast<float>(1.0 - beta2),
                                         static_cast<float>(options.eps()), static_cast<float>(decoupled ? 0.0 : wd)};
    int64_t step_size_at = 0;  // the step count step_size is for
    double step_size = 0.0;
    for (const auto& [param, id] : params) {
      AdamParamState& state = InitState(param);
      state.step(state.step() + 1);
      if (state.step() != step_size_at) {  // tensors usually share t: α_t once per group
        step_size_at = state.step();
        step_size = AdamStepSize(options, state.step());
      }
      TensorStep& step = steps.emplace_back();
      step.param = FloatData(param);
      step.grad = FloatData(param.grad());
      step.state0 = FloatData(state.exp_avg());
      step.state1 = FloatData(state.exp_avg_sq());
      step.numel = param.numel();
      step.adam = scalars;
      step.coupled_l2 = !decoupled && wd != 0.0;
      step.neg_step = static_cast<float>(-step_size);
      step.decay = static_cast<float>(decoupled && wd != 0.0 ? -lr * wd : 0.0);
      step.quantize = {id, state.step(), state.step() == 1, step_size};
      device = param.device();
    }
  });
  runner_.Run(step_math::StepRule::kAdam, path, device);
}

AdamParamState& AdamFamily::InitState(const at::Tensor& param) {
  return StateOf(param, [&](AdamParamState& state) {
    state.exp_avg(at::zeros_like(param, at::MemoryFormat::Contiguous));
    state.exp_avg_sq(at::zeros_like(param, at::MemoryFormat::Contiguous));
  });
}

StepPath AdamFamily::step_path() const {
  // The fused loops implement the reference form only.
  bool reference_form = true;
  for (const auto& group : param_groups_) {
    reference_form &= static_cast<const AdamOptions&>(group.options()).form() == AdamForm::kReference;
  }
  return ChooseStepPath(param_groups_, reference_form && fused_cpu::Enabled(),
                        reference_form && CudaStepperRegistered());
}

void AdamFamily::StepAten() {
  const bool quantized = runner_.quantized();
  // Quantized updates of every group, quantized together: one quantizer call per step.
  std::vector<at::Tensor> quantized_params, updates;
  std::vector<QuantizeStep> quantized_steps;
  // The reference's decoupled decay comes after the (quantized) update: (params, −lr·wd) per group.
  std::vector<std::pair<std::vector<at::Tensor>, double>> late_decays;
  ForEachGroupWithGrads<AdamOptions>(
      param_groups_, [&](const AdamOptions& options, const std::vector<ParamWithGrad>& group) {
        const auto [beta1, beta2] = options.betas();
        const double lr = options.lr();
        const double wd = options.weight_decay();
        const bool reference = options.form() == AdamForm::kReference;

        std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs;
        std::vector<QuantizeStep> steps;
        for (const auto& [param, id] : group) {
          AdamParamState& state = InitState(param);
          state.step(state.step() + 1);
          params.push_back(param);
          grads.push_back(param.grad());
          exp_avgs.push_back(state.exp_avg());
          exp_avg_sqs.push_back(state.exp_avg_sq());
          steps.push_back({id, state.step(), state.step() == 1, 0.0});
        }

        if (wd != 0.0 && options.decoupled_weight_decay() && !reference) {
          at::_foreach_mul_(params, 1.0 - lr * wd);  // torch.optim.AdamW: decay first
        }
        if (wd != 0.0 && !options.decoupled_weight_decay()) {
          grads = at::_foreach_add(grads, params, wd);  // L2 (Adam)
        }
        if (reference) {
          at::_foreach_mul_(exp_avgs, beta1);
          at::_foreach_add_(exp_avgs, grads, 1.0 - beta1);
        } else {
          at::_foreach_lerp_(exp_avgs, grads, 1.0 - beta1);
        }
        at::_foreach_mul_(exp_avg_sqs, beta2);
        at::_foreach_addcmul_(exp_avg_sqs, grads, grads, 1.0 - beta2);

        // Per-tensor step sizes (a tensor's step count can differ when it sometimes has no gradient).
        std::vector<c10::Scalar> neg_step_sizes, bias2_sqrts;
        for (QuantizeStep& step : steps) {
          const double step_size = AdamStepSize(options, step.step);
          step.lambda = step_size;  // the log schedule's λ = α_t
          neg_step_sizes.emplace_back(-step_size);
          bias2_sqrts.emplace_back(std::pow(1.0 - std::pow(beta2, static_cast<double>(step.step)), 0.5));
        }
        std::vector<at::Tensor> denoms;
        if (reference) {
          // Correctly rounded √v (float64, then float32), as the fused CPU loop and CUDA compute it;
          // at::sqrt on the CPU is MKL's, which is not.
          for (const at::Tensor& v : exp_avg_sqs) denoms.push_back(v.to(at::kDouble).sqrt_().to(v.scalar_type()));
        } else {
          denoms = at::_foreach_sqrt(exp_avg_sqs);  // exactly torch.optim.Adam
          at::_foreach_div_(denoms, bias2_sqrts);
        }
        at::_foreach_add_(denoms, options.eps());

        if (quantized) {
          std::vector<at::Tensor> group_updates = at::_foreach_div(exp_avgs, denoms);
          at::_foreach_mul_(group_updates, neg_step_sizes);
          updates.insert(updates.end(), group_updates.begin(), group_updates.end());
          quantized_params.insert(quantized_params.end(), params.begin(), params.end());
          quantized_steps.insert(quantized_steps.end(), steps.begin(), steps.end());
        } else {
          at::_foreach_addcdiv_(params, exp_avgs, denoms, neg_step_sizes);
        }
        if (wd != 0.0 && options.decoupled_weight_decay() && reference) {
          late_decays.emplace_back(params, -lr * wd);
        }
      });
  if (quantized && !updates.empty()) {
    runner_.HostQuantizer().QuantizeInPlace(updates, quantized_steps);
    at::_foreach_add_(quantized_params, updates);
  }
  for (auto& [params, alpha] : late_decays) {
    at::_foreach_add_(params, params, alpha);  // the reference's p.add_(p, alpha=−lr·wd)
  }
}

}  // namespace qres::optim
