// Registers Adam, AdamW, QtAdam and QtAdamW (adam.h has the table of their defaults).
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qres/base/params.h"
#include "qres/base/status_macros.h"
#include "qres/optim/adam.h"
#include "qres/optim/optimizer.h"

namespace qres::optim {
namespace {

struct AdamVariant {
  const char* name;
  AdamForm form;
  bool decoupled;
  double eps;
  bool quantized;
};

constexpr AdamVariant kAdam{"Adam", AdamForm::kTorch, false, 1e-8, false};
constexpr AdamVariant kAdamW{"AdamW", AdamForm::kReference, true, 1e-6, false};
constexpr AdamVariant kQtAdam{"QtAdam", AdamForm::kReference, false, 1e-6, true};
constexpr AdamVariant kQtAdamW{"QtAdamW", AdamForm::kReference, true, 1e-6, true};

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeAdam(std::vector<at::Tensor> params,
                                                                  const OptimizerSpec& spec,
                                                                  const AdamVariant& variant) {
  QRES_ASSIGN_OR_RETURN(Params optim_params, Params::Parse(spec.optim_params, "--optim_params"));
  AdamOptions defaults(spec.lr);
  defaults.form(variant.form).decoupled_weight_decay(variant.decoupled).eps(variant.eps);
  QRES_ASSIGN_OR_RETURN(AdamOptions options, AdamOptions::FromParams(optim_params, defaults));
  QRES_RETURN_IF_ERROR(optim_params.CheckAllUsed());

  QuantizerOptions quant;
  quant.schedule = QuantSchedule::kNone;
  if (variant.quantized) {
    QRES_ASSIGN_OR_RETURN(Params quant_params, Params::Parse(spec.quant_params, "--quant_params"));
    QuantizerOptions quant_defaults;
    quant_defaults.initial_index = spec.qp;
    quant_defaults.check_first_step = true;  // steps count from 1: the reference checks at once
    quant_defaults.batches_per_epoch = spec.batches_per_epoch;
    quant_defaults.epochs = spec.epochs;
    QRES_ASSIGN_OR_RETURN(quant, QuantizerOptions::FromParams(quant_params, quant_defaults));
    QRES_RETURN_IF_ERROR(quant_params.CheckAllUsed());
  } else if (!spec.quant_params.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--quant_params is given but ", variant.name, " does not quantize (use QtAdam or QtAdamW)"));
  }
  QRES_ASSIGN_OR_RETURN(auto optimizer, AdamFamily::Create(std::move(params), options, quant));
  return std::unique_ptr<torch::optim::Optimizer>(std::move(optimizer));
}

template <const AdamVariant& kVariant>
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> Make(std::vector<at::Tensor> params,
                                                              const OptimizerSpec& spec) {
  return MakeAdam(std::move(params), spec, kVariant);
}

QRES_REGISTER_OPTIMIZER("Adam", "torch.optim.Adam; --optim_params betas, eps, weight_decay (L2)", &Make<kAdam>);
QRES_REGISTER_OPTIMIZER("AdamW",
                        "the reference's AdamW (eps 1e-6 on the uncorrected sqrt(v), decay after "
                        "the step); form=torch for torch.optim.AdamW with its defaults (eps 1e-8, "
                        "weight_decay 0.01)",
                        &Make<kAdamW>);
QRES_REGISTER_OPTIMIZER("QtAdam", "Adam (reference form, L2 decay) with the update quantized", &Make<kQtAdam>);
QRES_REGISTER_OPTIMIZER("QtAdamW", "the paper's QtAdamW: AdamW with the update quantized", &Make<kQtAdamW>);

}  // namespace
}  // namespace qres::optim
