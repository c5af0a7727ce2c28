// The Adam family (algorithm.md §2): Adam, AdamW, QtAdam, QtAdamW in one multi-tensor optimizer.
//
// form=torch      torch.optim.Adam / AdamW: ε added to the bias-corrected √v̂; decoupled decay
//                 (AdamW) applied before the update.
// form=reference  the reference's HuggingFace-style AdamW: ε added to the uncorrected √v,
//                 α_t = lr·√(1−β2^t)/(1−β1^t), decoupled decay w <- w − lr·wd·w after the update.
//                 √v is correctly rounded on every device (the CPU's at::sqrt is not), so the
//                 CPU loops, the foreach path and CUDA give the same bits.
// With a quantizer, the update h = −α_t·m/(√v+ε) is quantized before it is added (QtAdam,
// QtAdamW); decay is never quantized. Steps count from 1, so the reference checks the very first
// update for zero.
//
//   Name      form       decay        eps    quantized
//   Adam      torch      L2 (coupled)  1e-8  no
//   AdamW     reference  decoupled     1e-6  no
//   QtAdam    reference  L2 (coupled)  1e-6  yes
//   QtAdamW   reference  decoupled     1e-6  yes
// weight_decay defaults to 0, as in the published runs. A form given that is not the name's own
// brings its defaults: form=torch those of torch.optim.Adam / AdamW (eps 1e-8; AdamW's
// weight_decay 0.01), form=reference eps 1e-6 and no decay.
#ifndef QRES_OPTIM_ADAM_H_
#define QRES_OPTIM_ADAM_H_

#include <memory>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "qres/base/params.h"
#include "qres/optim/optimizer.h"
#include "qres/optim/optimizer_base.h"
#include "qres/optim/quantizer.h"
#include "torch/arg.h"
#include "torch/optim/optimizer.h"

namespace qres::optim {

enum class AdamForm : int64_t { kTorch = 0, kReference = 1 };

struct AdamOptions : public torch::optim::OptimizerCloneableOptions<AdamOptions> {
  AdamOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit, as torch::optim's options
  TORCH_ARG(double, lr) = 1e-3;
  typedef std::tuple<double, double> betas_t;
  TORCH_ARG(betas_t, betas) = std::make_tuple(0.9, 0.999);
  TORCH_ARG(double, eps) = 1e-8;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, decoupled_weight_decay) = false;
  TORCH_ARG(AdamForm, form) = AdamForm::kTorch;

 public:  // TORCH_ARG leaves the section private
  // lr >= 0, betas in [0, 1), eps >= 0, weight_decay >= 0.
  [[nodiscard]] absl::Status Validate() const;
  // `defaults` with lr and the keys betas (b1:b2), eps, weight_decay, form (torch|reference); a
  // form other than defaults' resets eps and weight_decay to that form's defaults first.
  [[nodiscard]] static absl::StatusOr<AdamOptions> FromParams(Params& params, AdamOptions defaults);

  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

struct AdamParamState : public torch::optim::OptimizerCloneableParamState<AdamParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(at::Tensor, exp_avg);
  TORCH_ARG(at::Tensor, exp_avg_sq);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

// α_t of step t (from 1): the reference form's lr·√(1−β2^t)/(1−β1^t), torch's lr/(1−β1^t).
double AdamStepSize(const AdamOptions& options, int64_t step);

class AdamFamily : public OptimizerFamily<AdamOptions, AdamParamState> {
 public:
  // `quantizer.schedule == kNone` gives the unquantized optimizer. Options must be valid.
  AdamFamily(std::vector<at::Tensor> params, AdamOptions options, QuantizerOptions quantizer);

  // Validates both option sets and returns the error instead of throwing.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<AdamFamily>> Create(std::vector<at::Tensor> params,
                                                                          AdamOptions options,
                                                                          QuantizerOptions quantizer);

  StepPath step_path() const override;
  std::vector<std::string> BufferNames() const override { return {"exp_avg", "exp_avg_sq"}; }
  void ImportState(const at::Tensor& param, const ParamStateSnapshot& state) override;
  ParamStateSnapshot ExportState(const at::Tensor& param) const override;

 private:
  // The reference form on dense float32 tensors runs as single-pass loops (fused_cpu.h) on the CPU,
  // as kernels (qres/optim/cuda) on a GPU; everything else as foreach ATen ops. All three give the
  // same numbers.
  void StepFused(StepPath path) override;
  void StepAten() override;
  AdamParamState& InitState(const at::Tensor& param);
};

}  // namespace qres::optim

#endif  // QRES_OPTIM_ADAM_H_
