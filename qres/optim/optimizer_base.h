// OptimizerBase: what every qres optimizer family (the Adam family, SGD) shares, so that a family
// describes only its own step and state. It owns the step runner (the quantizer and the fused step
// paths), picks the path at each step, forwards QresOptimizer's methods to the runner, and saves
// the quantizer beside the per-parameter states. Its per-parameter state, by buffer name, lets the
// Python operator (qres/python/ops.cc) step any family without knowing which it is.
//
//   class MyFamily : public OptimizerFamily<MyOptions, MyParamState> {
//     StepPath step_path() const override;          // where its step can run
//     void StepAten() override;                     // foreach ATen ops
//     void StepFused(StepPath path) override;       // TensorSteps for runner_ (tensor_step.h)
//     std::vector<std::string> BufferNames() const override;
//     void ImportState(...) override;  ParamStateSnapshot ExportState(...) const override;
//   };
#ifndef QRES_OPTIM_OPTIMIZER_BASE_H_
#define QRES_OPTIM_OPTIMIZER_BASE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "qres/optim/optimizer.h"
#include "qres/optim/quantizer.h"
#include "qres/optim/step_runner.h"
#include "torch/optim/optimizer.h"
#include "torch/optim/serialize.h"

namespace qres::optim {

// A parameter's state as the Python operator holds it: the step count and one tensor per buffer
// name (undefined where the family has not made it yet: SGD's momentum buffer before its first
// momentum step).
struct ParamStateSnapshot {
  int64_t step = 0;
  std::vector<at::Tensor> buffers;
};

class OptimizerBase : public torch::optim::Optimizer, public QresOptimizer {
 public:
  at::Tensor step(LossClosure closure = nullptr) final { return StepOnItsPath(closure); }
  void save(torch::serialize::OutputArchive& archive) const final;
  void load(torch::serialize::InputArchive& archive) final;

  const Quantizer& quantizer() final { return runner_.quantizer(); }
  void set_quantizer_state(QuantizerState state) final { runner_.HostQuantizer().ImportDeviceState(std::move(state)); }
  bool SetGraphMode(bool on) final { return runner_.SetGraphMode(on, step_path()); }
  void LaunchPendingStep() final { runner_.LaunchPending(); }
  std::string PendingStepKey() const final { return runner_.PendingLaunchKey(); }

  // The names of a parameter's state buffers, in order ("exp_avg", "exp_avg_sq"; "momentum_buffer").
  virtual std::vector<std::string> BufferNames() const = 0;
  // Whether a buffer is made at its first use, so that an empty one stands for none yet (SGD's
  // momentum buffer); else every buffer must be like its parameter.
  virtual bool BuffersMadeAtFirstUse() const { return false; }
  // Makes `param`'s state from `state` (its buffers used as they are, not copied).
  virtual void ImportState(const at::Tensor& param, const ParamStateSnapshot& state) = 0;
  // `param`'s state, which must exist.
  virtual ParamStateSnapshot ExportState(const at::Tensor& param) const = 0;

 protected:
  OptimizerBase(std::vector<at::Tensor> params, std::unique_ptr<torch::optim::OptimizerOptions> defaults,
                QuantizerOptions quantizer)
      : torch::optim::Optimizer({torch::optim::OptimizerParamGroup(std::move(params))}, std::move(defaults)),
        runner_(std::move(quantizer)) {}

  // The per-parameter states and groups of a checkpoint (torch::optim::serialize of the family's types).
  virtual void SaveParamStates(torch::serialize::OutputArchive& archive) const = 0;
  virtual void LoadParamStates(torch::serialize::InputArchive& archive) = 0;

  StepRunner runner_;
};

// OptimizerBase with the family's Options and ParamState types (LibTorch's triplet): their
// checkpoint entries, and the state of a parameter at its first step.
template <typename Options, typename State>
class OptimizerFamily : public OptimizerBase {
 protected:
  OptimizerFamily(std::vector<at::Tensor> params, Options options, QuantizerOptions quantizer)
      : OptimizerBase(std::move(params), std::make_unique<Options>(options), std::move(quantizer)) {}

  void SaveParamStates(torch::serialize::OutputArchive& archive) const override {
    torch::optim::serialize<State, Options>(archive, *this);
  }
  void LoadParamStates(torch::serialize::InputArchive& archive) override {
    torch::optim::serialize<State, Options>(archive, *this);
  }
  // `param`'s state, made by init(state) at its first step.
  template <typename Init>
  State& StateOf(const at::Tensor& param, const Init& init) {
    return ParamState<State>(state_, param, init);
  }
  // The state of a parameter the operator imports: a new one, whatever was there.
  State& FreshStateOf(const at::Tensor& param) {
    auto& slot = state_[param.unsafeGetTensorImpl()];
    slot = std::make_unique<State>();
    return static_cast<State&>(*slot);
  }
  const State& ExistingStateOf(const at::Tensor& param) const {
    return static_cast<const State&>(*state_.at(param.unsafeGetTensorImpl()));
  }
};

}  // namespace qres::optim

#endif  // QRES_OPTIM_OPTIMIZER_BASE_H_
