// The optimizer registry and what every qres optimizer shares.
//
//   OptimizerSpec spec;
//   spec.lr = 0.01;
//   spec.qp = 2;
//   spec.optim_params = "weight_decay=0.01";
//   QRES_ASSIGN_OR_RETURN(auto optimizer, OptimizerRegistry::Create("QtAdamW", model->parameters(), spec));
//   ... optimizer->zero_grad(); loss.backward(); optimizer->step();
//   if (const Quantizer* q = QuantizerOf(*optimizer)) LOG(INFO) << "QP Index: " << q->index();
//   (read the quantizer through QuantizerOf after each step you report: it is current then)
//
// Registered names: the seed's SGD, QSGD and the follow-up's stdSGD (//qres/optim:sgd); Adam,
// AdamW, QtAdam, QtAdamW (//qres/optim:adam); the follow-up's torch baselines ASGD, NAdam, RAdam
// (//qres/optim:torch_baselines). Another library registers its own with QRES_REGISTER_OPTIMIZER.
#ifndef QRES_OPTIM_OPTIMIZER_H_
#define QRES_OPTIM_OPTIMIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "qres/base/registry.h"
#include "qres/optim/quantizer.h"
#include "torch/optim/optimizer.h"

namespace qres::optim {

// Everything a factory needs to build an optimizer from the command line.
struct OptimizerSpec {
  double lr = 1e-3;
  int64_t qp = 0;                 // the seed's -qp: the bump schedule's initial index
  std::string optim_params;       // "k=v,..." optimizer options (momentum, betas, eps, ...)
  std::string quant_params;       // "k=v,..." quantizer options (schedule, rounding, ...)
  int64_t batches_per_epoch = 0;  // the log schedule's clock
  int64_t epochs = 0;             // the log schedule's warm-up length
};

using OptimizerRegistry = Registry<torch::optim::Optimizer, std::vector<at::Tensor>, const OptimizerSpec&>;

// Where an optimizer step can run: the foreach ATen ops (any tensors), or the fused loops of one
// device, which take only dense float32 parameters (and gradients of the same shape), all on one
// device.
enum class StepPath { kAten, kFusedCpu, kFusedCuda };

// "ATen ops", "fused CPU loops" or "fused CUDA step".
std::string ToString(StepPath path);

// Implemented by qres's optimizers (the Adam and SGD families).
class QresOptimizer {
 public:
  virtual ~QresOptimizer() = default;
  // Its quantizer, current (schedule kNone when it does not quantize). After steps on a GPU this
  // waits for the device, which keeps the quantizer's state between steps.
  virtual const Quantizer& quantizer() = 0;
  // Replaces the quantizer's state (the Python ops keep it in a tensor between steps).
  virtual void set_quantizer_state(QuantizerState state) = 0;
  // Where step() runs for the parameters (and gradients) it holds now.
  virtual StepPath step_path() const = 0;
  // CUDA graphs (qres/train/step_graph.h): in graph mode, step() on the fused CUDA step does the
  // host's part only and leaves its kernels to LaunchPendingStep(), which a graph captures; the
  // graph replays any later step whose PendingStepKey() is the same (cuda_stepper.h). Returns
  // false, and stays out of graph mode, where step() does not run on the fused CUDA step.
  virtual bool SetGraphMode(bool on) = 0;
  virtual void LaunchPendingStep() = 0;
  virtual std::string PendingStepKey() const = 0;

 protected:
  // step(): the closure's loss (EvaluateClosure), then StepAten or StepFused on step_path().
  at::Tensor StepOnItsPath(const torch::optim::Optimizer::LossClosure& closure);
  virtual void StepAten() = 0;
  virtual void StepFused(StepPath path) = 0;
};

// step()'s loss: the closure's, evaluated with gradients on, or an undefined tensor without one.
at::Tensor EvaluateClosure(const torch::optim::Optimizer::LossClosure& closure);

// The optimizer's quantizer, current (QresOptimizer::quantizer()), or nullptr when it does not
// quantize (SGD, Adam, AdamW). Valid until the next step.
const Quantizer* QuantizerOf(torch::optim::Optimizer& optimizer);

// Where a qres optimizer's step runs now; nullopt for other optimizers.
std::optional<StepPath> StepPathOf(const torch::optim::Optimizer& optimizer);

// A parameter that has a gradient at this step, and its position over all groups (the quantizer's
// tensor id).
struct ParamWithGrad {
  const at::Tensor& param;
  int64_t id;
};

// The walk of every step: visit(options, params) once per group, in order, with the group's
// parameters that have a gradient (groups without any are skipped). `Options` is the
// optimizer's own options type.
template <typename Options, typename Visit>
void ForEachGroupWithGrads(std::vector<torch::optim::OptimizerParamGroup>& groups, const Visit& visit) {
  int64_t id = 0;
  std::vector<ParamWithGrad> params;
  for (auto& group : groups) {
    params.clear();
    for (const at::Tensor& param : group.params()) {
      if (param.grad().defined()) params.push_back({param, id});
      ++id;
    }
    if (!params.empty()) visit(static_cast<const Options&>(group.options()), params);
  }
}

// `param`'s entry in a torch::optim state map, which keys it by the tensor's impl (as
// torch::optim::serialize expects); init(state) fills a new entry at the parameter's first step.
template <typename State, typename StateMap, typename Init>
State& ParamState(StateMap& states, const at::Tensor& param, const Init& init) {
  auto& slot = states[param.unsafeGetTensorImpl()];
  if (!slot) {
    auto state = std::make_unique<State>();
    init(*state);
    slot = std::move(state);
  }
  return static_cast<State&>(*slot);
}

// kFusedCpu when every parameter is such a CPU tensor and `cpu_loops` (the loops exist and apply),
// kFusedCuda likewise on one CUDA device with `cuda_kernels`, else kAten.
StepPath ChooseStepPath(const std::vector<torch::optim::OptimizerParamGroup>& groups, bool cpu_loops,
                        bool cuda_kernels);

// For tests of the fused CUDA step without a GPU (//qres/optim/cuda:fused_step_emulated_test):
// while on, CPU tensors take kFusedCuda when `cuda_kernels` (there: a stepper whose kernels run
// in the SIMT emulator on the CPU).
void SetFusedCudaPathForCpuTensors(bool on);

}  // namespace qres::optim

namespace qres {
template <>
struct RegistryKind<torch::optim::Optimizer> {
  static constexpr const char* kName = "algorithm";
};
}  // namespace qres

// Registers an optimizer factory:
//   absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> Make(std::vector<at::Tensor>,
//                                                                const OptimizerSpec&);
#define QRES_REGISTER_OPTIMIZER(name, help, factory) \
  QRES_REGISTER_COMPONENT(::qres::optim::OptimizerRegistry, name, help, factory)

#endif  // QRES_OPTIM_OPTIMIZER_H_
