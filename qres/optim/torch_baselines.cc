// ASGD, NAdam and RAdam as torch.optim has them: the follow-up accepts them with torch's defaults,
// only lr passed (algorithm.md §2.2). Each step is torch.optim's single-tensor path (the one it
// takes for CPU tensors), op for op on ATen, with the scalar state (the step count, NAdam's μ
// product, ASGD's η and μ) in 0-dim float32 tensors as torch keeps it, so the trajectories equal
// torch's bit for bit (qres/tests/golden/torch_*.pt). No fused loops: they would round otherwise.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ATen/ops/scalar_tensor.h"
#include "ATen/ops/zeros_like.h"
#include "absl/strings/str_cat.h"
#include "c10/core/GradMode.h"
#include "qres/base/params.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/optim/optimizer.h"
#include "torch/optim/optimizer.h"
#include "torch/optim/serialize.h"

namespace qres::optim {
namespace {

enum class Baseline : int64_t { kAsgd, kNAdam, kRAdam };

struct BaselineOptions : public torch::optim::OptimizerCloneableOptions<BaselineOptions> {
  BaselineOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit, as torch::optim's options
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(double, beta1) = 0.9;            // NAdam, RAdam
  TORCH_ARG(double, beta2) = 0.999;          // NAdam, RAdam
  TORCH_ARG(double, eps) = 1e-8;             // NAdam, RAdam
  TORCH_ARG(double, momentum_decay) = 4e-3;  // NAdam
  TORCH_ARG(double, lambd) = 1e-4;           // ASGD
  TORCH_ARG(double, alpha) = 0.75;           // ASGD
  TORCH_ARG(double, t0) = 1e6;               // ASGD

 public:
  void serialize(torch::serialize::OutputArchive& archive) const override {
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lr);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(weight_decay);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(beta1);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(beta2);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(eps);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(momentum_decay);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(lambd);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(alpha);
    _TORCH_OPTIM_SERIALIZE_TORCH_ARG(t0);
  }
  void serialize(torch::serialize::InputArchive& archive) override {
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lr);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, weight_decay);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, beta1);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, beta2);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, eps);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, momentum_decay);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, lambd);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, alpha);
    _TORCH_OPTIM_DESERIALIZE_TORCH_ARG(double, t0);
  }
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

// Only the tensors an algorithm uses are defined (and saved).
struct BaselineState : public torch::optim::OptimizerCloneableParamState<BaselineState> {
  at::Tensor step, exp_avg, exp_avg_sq, mu_product, eta, mu, ax;

  void serialize(torch::serialize::OutputArchive& archive) const override {
    for (const auto& [key, tensor] : Named()) {
      if (tensor->defined()) archive.write(key, *tensor);
    }
  }
  void serialize(torch::serialize::InputArchive& archive) override {
    for (const auto& [key, tensor] : Named()) archive.try_read(key, *tensor);
  }

 private:
  std::vector<std::pair<std::string, at::Tensor*>> Named() const {
    auto* self = const_cast<BaselineState*>(this);
    return {{"step", &self->step},
            {"exp_avg", &self->exp_avg},
            {"exp_avg_sq", &self->exp_avg_sq},
            {"mu_product", &self->mu_product},
            {"eta", &self->eta},
            {"mu", &self->mu},
            {"ax", &self->ax}};
  }
};

at::Tensor Float32Scalar(double value) { return at::scalar_tensor(value, at::TensorOptions().dtype(at::kFloat)); }

class TorchBaseline final : public torch::optim::Optimizer {
 public:
  TorchBaseline(Baseline algorithm, std::vector<at::Tensor> params, BaselineOptions options)
      : torch::optim::Optimizer({torch::optim::OptimizerParamGroup(std::move(params))},
                                std::make_unique<BaselineOptions>(options)),
        algorithm_(algorithm) {}

  at::Tensor step(LossClosure closure = nullptr) override {
    at::NoGradGuard no_grad;
    at::Tensor loss = EvaluateClosure(closure);
    for (auto& group : param_groups_) {
      const auto& options = static_cast<const BaselineOptions&>(group.options());
      for (const at::Tensor& param : group.params()) {
        if (!param.grad().defined()) continue;
        BaselineState& state =
            ParamState<BaselineState>(state_, param, [&](BaselineState& s) { Init(s, param, options); });
        switch (algorithm_) {
          case Baseline::kAsgd:
            StepAsgd(options, param, param.grad(), state);
            break;
          case Baseline::kNAdam:
            StepNAdam(options, param, param.grad(), state);
            break;
          case Baseline::kRAdam:
            StepRAdam(options, param, param.grad(), state);
            break;
        }
      }
    }
    return loss;
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    torch::optim::serialize<BaselineState, BaselineOptions>(archive, *this);
  }
  void load(torch::serialize::InputArchive& archive) override {
    torch::optim::serialize<BaselineState, BaselineOptions>(archive, *this);
  }

 private:
  void Init(BaselineState& s, const at::Tensor& param, const BaselineOptions& options) const {
    s.step = Float32Scalar(0.0);
    if (algorithm_ == Baseline::kAsgd) {
      s.eta = Float32Scalar(options.lr());
      s.mu = Float32Scalar(1.0);
      s.ax = at::zeros_like(param, at::MemoryFormat::Preserve);
      return;
    }
    s.exp_avg = at::zeros_like(param, at::MemoryFormat::Preserve);
    s.exp_avg_sq = at::zeros_like(param, at::MemoryFormat::Preserve);
    if (algorithm_ == Baseline::kNAdam) s.mu_product = Float32Scalar(1.0);
  }

  // torch.optim.asgd._single_tensor_asgd.
  static void StepAsgd(const BaselineOptions& o, const at::Tensor& param, at::Tensor grad, BaselineState& s) {
    s.step.add_(1);
    if (o.weight_decay() != 0) grad = grad.add(param, o.weight_decay());
    const double eta = s.eta.item<double>();
    param.mul_(1 - o.lambd() * eta);
    param.add_(grad, -eta);
    if (s.mu.item<double>() != 1) {
      s.ax.add_(param.sub(s.ax).mul_(s.mu));
    } else {
      s.ax.copy_(param);
    }
    const double step = s.step.item<double>();
    s.eta.fill_(o.lr() / std::pow(1 + o.lambd() * o.lr() * step, o.alpha()));
    s.mu.fill_(1 / std::max(1.0, step - o.t0()));
  }

  // torch.optim.nadam._single_tensor_nadam (decoupled_weight_decay=False).
  static void StepNAdam(const BaselineOptions& o, const at::Tensor& param, at::Tensor grad, BaselineState& s) {
    s.step.add_(1);
    const double step = s.step.item<double>();
    const double bias_correction2 = 1 - std::pow(o.beta2(), step);
    if (o.weight_decay() != 0) grad = grad.add(param, o.weight_decay());
    const double mu = o.beta1() * (1.0 - 0.5 * std::pow(0.96, step * o.momentum_decay()));
    const double mu_next = o.beta1() * (1.0 - 0.5 * std::pow(0.96, (step + 1) * o.momentum_decay()));
    s.mu_product.mul_(mu);
    s.exp_avg.lerp_(grad, 1 - o.beta1());
    s.exp_avg_sq.mul_(o.beta2()).addcmul_(grad, grad, 1 - o.beta2());
    at::Tensor denom = s.exp_avg_sq.div(bias_correction2).sqrt();
    const double mu_product = s.mu_product.item<double>();
    const double mu_product_next = mu_product * mu_next;
    denom.add_(o.eps());
    param.addcdiv_(grad, denom, -o.lr() * (1.0 - mu) / (1.0 - mu_product));
    param.addcdiv_(s.exp_avg, denom, (-o.lr() * mu_next) / (1.0 - mu_product_next));
  }

  // torch.optim.radam._single_tensor_radam (decoupled_weight_decay=False).
  static void StepRAdam(const BaselineOptions& o, const at::Tensor& param, at::Tensor grad, BaselineState& s) {
    s.step.add_(1);
    const double step = s.step.item<double>();
    if (o.weight_decay() != 0) grad = grad.add(param, o.weight_decay());
    s.exp_avg.lerp_(grad, 1 - o.beta1());
    s.exp_avg_sq.mul_(o.beta2()).addcmul_(grad, grad, 1 - o.beta2());
    const double bias_correction1 = 1 - std::pow(o.beta1(), step);
    const double bias_correction2 = 1 - std::pow(o.beta2(), step);
    const at::Tensor bias_corrected_exp_avg = s.exp_avg / bias_correction1;
    const double rho_inf = 2 / (1 - o.beta2()) - 1;
    const double rho_t = rho_inf - 2 * step * std::pow(o.beta2(), step) / bias_correction2;
    if (rho_t > 5.0) {
      const double rect = std::pow((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.5);
      // Python's float / tensor is tensor.reciprocal() * float.
      const at::Tensor adaptive_lr = s.exp_avg_sq.sqrt().add_(o.eps()).reciprocal() * std::pow(bias_correction2, 0.5);
      param.add_(bias_corrected_exp_avg * o.lr() * adaptive_lr * rect, -1.0);
    } else {
      param.add_(bias_corrected_exp_avg * o.lr(), -1.0);
    }
  }

  Baseline algorithm_;
};

absl::Status CheckAtLeastZero(const std::string& key, double value) {
  if (value >= 0.0 && std::isfinite(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(key, "=", value, " must be a finite number >= 0"));
}

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeBaseline(Baseline algorithm,
                                                                      std::vector<at::Tensor> params,
                                                                      const OptimizerSpec& spec) {
  if (!spec.quant_params.empty()) {
    return absl::InvalidArgumentError("--quant_params is given but this algorithm does not quantize");
  }
  QRES_ASSIGN_OR_RETURN(Params given, Params::Parse(spec.optim_params, "--optim_params"));
  BaselineOptions options(spec.lr);
  QRES_ASSIGN_OR_RETURN(options.weight_decay(), given.GetDouble("weight_decay", options.weight_decay()));
  QRES_RETURN_IF_ERROR(CheckAtLeastZero("lr", options.lr()));
  QRES_RETURN_IF_ERROR(CheckAtLeastZero("weight_decay", options.weight_decay()));
  if (algorithm == Baseline::kAsgd) {
    QRES_ASSIGN_OR_RETURN(options.lambd(), given.GetDouble("lambd", options.lambd()));
    QRES_ASSIGN_OR_RETURN(options.alpha(), given.GetDouble("alpha", options.alpha()));
    QRES_ASSIGN_OR_RETURN(options.t0(), given.GetDouble("t0", options.t0()));
    QRES_RETURN_IF_ERROR(CheckAtLeastZero("lambd", options.lambd()));
    QRES_RETURN_IF_ERROR(CheckAtLeastZero("alpha", options.alpha()));
    QRES_RETURN_IF_ERROR(CheckAtLeastZero("t0", options.t0()));
  } else {
    QRES_ASSIGN_OR_RETURN(const std::vector<double> betas,
                          given.GetDoubleList("betas", {options.beta1(), options.beta2()}));
    if (betas.size() != 2) return absl::InvalidArgumentError("--optim_params: betas takes two values, b1:b2");
    options.beta1(betas[0]).beta2(betas[1]);
    QRES_ASSIGN_OR_RETURN(options.eps(), given.GetDouble("eps", options.eps()));
    for (const auto& [name, beta] : {std::pair{"beta1", betas[0]}, std::pair{"beta2", betas[1]}}) {
      if (!(beta >= 0.0 && beta < 1.0)) {
        return absl::InvalidArgumentError(absl::StrCat("betas: ", name, "=", beta, " must be in [0, 1)"));
      }
    }
    QRES_RETURN_IF_ERROR(CheckAtLeastZero("eps", options.eps()));
    if (options.eps() == 0.0) {
      return absl::InvalidArgumentError("eps=0 must be > 0 (a gradient of 0 would divide 0 by 0)");
    }
    if (algorithm == Baseline::kNAdam) {
      QRES_ASSIGN_OR_RETURN(options.momentum_decay(), given.GetDouble("momentum_decay", options.momentum_decay()));
      QRES_RETURN_IF_ERROR(CheckAtLeastZero("momentum_decay", options.momentum_decay()));
    }
  }
  QRES_RETURN_IF_ERROR(given.CheckAllUsed());
  return CallTorch("creating the optimizer", [&]() -> std::unique_ptr<torch::optim::Optimizer> {
    return std::make_unique<TorchBaseline>(algorithm, std::move(params), options);
  });
}

QRES_REGISTER_OPTIMIZER("ASGD",
                        "torch.optim.ASGD (the follow-up's baseline); --optim_params lambd, alpha, t0, weight_decay",
                        [](std::vector<at::Tensor> params, const OptimizerSpec& spec) {
                          return MakeBaseline(Baseline::kAsgd, std::move(params), spec);
                        });
QRES_REGISTER_OPTIMIZER("NAdam",
                        "torch.optim.NAdam (the follow-up's baseline); --optim_params betas, eps, momentum_decay, "
                        "weight_decay",
                        [](std::vector<at::Tensor> params, const OptimizerSpec& spec) {
                          return MakeBaseline(Baseline::kNAdam, std::move(params), spec);
                        });
QRES_REGISTER_OPTIMIZER("RAdam",
                        "torch.optim.RAdam (the follow-up's baseline); --optim_params betas, eps, weight_decay",
                        [](std::vector<at::Tensor> params, const OptimizerSpec& spec) {
                          return MakeBaseline(Baseline::kRAdam, std::move(params), spec);
                        });

}  // namespace
}  // namespace qres::optim
