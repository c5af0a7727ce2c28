// Registers SGD and QSGD.
#include <memory>
#include <utility>
#include <vector>

#include "qres/base/params.h"
#include "qres/base/status_macros.h"
#include "qres/optim/optimizer.h"
#include "qres/optim/sgd.h"

namespace qres::optim {
namespace {

absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeSgd(std::vector<at::Tensor> params,
                                                                 const OptimizerSpec& spec, bool quantized) {
  QRES_ASSIGN_OR_RETURN(Params optim_params, Params::Parse(spec.optim_params, "--optim_params"));
  QRES_ASSIGN_OR_RETURN(SgdOptions options, SgdOptions::FromParams(optim_params, spec.lr));
  QRES_RETURN_IF_ERROR(optim_params.CheckAllUsed());

  QuantizerOptions quant;
  quant.schedule = QuantSchedule::kNone;
  if (quantized) {
    QRES_ASSIGN_OR_RETURN(Params quant_params, Params::Parse(spec.quant_params, "--quant_params"));
    QuantizerOptions defaults;
    defaults.initial_index = spec.qp;
    defaults.check_first_step = false;  // QtSGD counts from 0 and skips the check at step 0
    defaults.batches_per_epoch = spec.batches_per_epoch;
    defaults.epochs = spec.epochs;
    QRES_ASSIGN_OR_RETURN(quant, QuantizerOptions::FromParams(quant_params, defaults));
    QRES_RETURN_IF_ERROR(quant_params.CheckAllUsed());
  } else if (!spec.quant_params.empty()) {
    return absl::InvalidArgumentError("--quant_params is given but SGD does not quantize (use QSGD)");
  }
  QRES_ASSIGN_OR_RETURN(auto optimizer, Sgd::Create(std::move(params), options, quant));
  return std::unique_ptr<torch::optim::Optimizer>(std::move(optimizer));
}

// The follow-up's stdSGD: w <- w - lr·g (weight_decay is the only option), torch.optim.SGD's plain step.
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeStdSgd(std::vector<at::Tensor> params,
                                                                    const OptimizerSpec& spec) {
  QRES_ASSIGN_OR_RETURN(Params optim_params, Params::Parse(spec.optim_params, "--optim_params"));
  SgdOptions options(spec.lr);
  QRES_ASSIGN_OR_RETURN(options.weight_decay(), optim_params.GetDouble("weight_decay", 0.0));
  QRES_RETURN_IF_ERROR(optim_params.CheckAllUsed());
  if (!spec.quant_params.empty()) {
    return absl::InvalidArgumentError("--quant_params is given but stdSGD does not quantize (use QSGD)");
  }
  QuantizerOptions none;
  none.schedule = QuantSchedule::kNone;
  QRES_ASSIGN_OR_RETURN(auto optimizer, Sgd::Create(std::move(params), options, none));
  return std::unique_ptr<torch::optim::Optimizer>(std::move(optimizer));
}

QRES_REGISTER_OPTIMIZER("stdSGD", "the follow-up's plain SGD, w <- w - lr*g; --optim_params weight_decay", &MakeStdSgd);
QRES_REGISTER_OPTIMIZER("SGD", "torch.optim.SGD; --optim_params momentum, dampening, weight_decay, nesterov",
                        [](std::vector<at::Tensor> params, const OptimizerSpec& spec) {
                          return MakeSgd(std::move(params), spec, /*quantized=*/false);
                        });
QRES_REGISTER_OPTIMIZER("QSGD", "SGD with the update quantized, Q_p increasing (the paper's QtSGD); --quant_params",
                        [](std::vector<at::Tensor> params, const OptimizerSpec& spec) {
                          return MakeSgd(std::move(params), spec, /*quantized=*/true);
                        });

}  // namespace
}  // namespace qres::optim
