// SGD and QSGD (algorithm.md §2): w <- w - lr·d, or w <- w + [-lr·d]_Q for QSGD, where d is the
// gradient with optional L2 weight decay, momentum, dampening and Nesterov, as torch.optim.SGD.
//
// The reference's QSGD ignores momentum and weight decay; here they are opt-in (default 0), so the
// default QSGD is the reference's. QSGD counts steps from 0 and, as the reference, does not check
// the very first update for zero (check_first_step=false).
//
// The step is multi-tensor: single-pass loops (fused_cpu.h) on the CPU, one fused launch on a GPU
// (qres/optim/cuda), foreach ATen ops for everything else (StepAten); all give the same numbers.
#ifndef QRES_OPTIM_SGD_H_
#define QRES_OPTIM_SGD_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "qres/base/params.h"
#include "qres/optim/optimizer.h"
#include "qres/optim/optimizer_base.h"
#include "qres/optim/quantizer.h"
#include "torch/arg.h"
#include "torch/optim/optimizer.h"

namespace qres::optim {

struct SgdOptions : public torch::optim::OptimizerCloneableOptions<SgdOptions> {
  SgdOptions(double lr = 1e-3) : lr_(lr) {}  // NOLINT: implicit, as torch::optim's options
  TORCH_ARG(double, lr) = 1e-3;
  TORCH_ARG(double, momentum) = 0.0;
  TORCH_ARG(double, dampening) = 0.0;
  TORCH_ARG(double, weight_decay) = 0.0;
  TORCH_ARG(bool, nesterov) = false;

 public:  // TORCH_ARG leaves the section private
  // lr, momentum, dampening, weight_decay >= 0; nesterov needs momentum > 0 and no dampening.
  [[nodiscard]] absl::Status Validate() const;
  // lr from `lr`; momentum, dampening, weight_decay, nesterov from `params`.
  [[nodiscard]] static absl::StatusOr<SgdOptions> FromParams(Params& params, double lr);

  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

struct SgdParamState : public torch::optim::OptimizerCloneableParamState<SgdParamState> {
  TORCH_ARG(int64_t, step) = 0;
  TORCH_ARG(at::Tensor, momentum_buffer);

 public:
  void serialize(torch::serialize::InputArchive& archive) override;
  void serialize(torch::serialize::OutputArchive& archive) const override;
};

class Sgd : public OptimizerFamily<SgdOptions, SgdParamState> {
 public:
  // `quantizer.schedule == kNone` gives plain SGD. Options must be valid (see Create).
  Sgd(std::vector<at::Tensor> params, SgdOptions options, QuantizerOptions quantizer);

  // Validates both option sets and returns the error instead of throwing.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Sgd>> Create(std::vector<at::Tensor> params, SgdOptions options,
                                                                   QuantizerOptions quantizer);

  StepPath step_path() const override;
  // The momentum buffer is made at the first momentum step: undefined (or empty) until then.
  std::vector<std::string> BufferNames() const override { return {"momentum_buffer"}; }
  bool BuffersMadeAtFirstUse() const override { return true; }
  void ImportState(const at::Tensor& param, const ParamStateSnapshot& state) override;
  ParamStateSnapshot ExportState(const at::Tensor& param) const override;

 private:
  // Dense float32 tensors run as single-pass loops (fused_cpu.h) on the CPU, as kernels
  // (qres/optim/cuda) on a GPU; everything else as foreach ATen ops. All three give the same
  // numbers.
  void StepFused(StepPath path) override;
  void StepAten() override;
  SgdParamState& InitState(const at::Tensor& param);
};

}  // namespace qres::optim

#endif  // QRES_OPTIM_SGD_H_
