// The optimizer registry and what every qres optimizer shares.
//
//   OptimizerSpec spec;
//   spec.lr = 0.01;
//   spec.qp = 2;
//   spec.optim_params = "weight_decay=0.01";
//   QRES_ASSIGN_OR_RETURN(auto optimizer, OptimizerRegistry::Create("QtAdamW", model->parameters(), spec));
//   ... optimizer->zero_grad(); loss.backward(); optimizer->step();
//   if (const Quantizer* q = QuantizerOf(*optimizer)) LOG(INFO) << "QP Index: " << q->index();
//
// Registered names (the seed's): SGD, QSGD (//qres/optim:sgd), Adam, AdamW, QtAdam, QtAdamW
// (//qres/optim:adam). Another library registers its own with QRES_REGISTER_OPTIMIZER.
#ifndef QRES_OPTIM_OPTIMIZER_H_
#define QRES_OPTIM_OPTIMIZER_H_

#include <cstdint>
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
  int64_t qp = 0;               // the seed's -qp: the bump schedule's initial index
  std::string optim_params;     // "k=v,..." optimizer options (momentum, betas, eps, ...)
  std::string quant_params;     // "k=v,..." quantizer options (schedule, rounding, ...)
  int64_t batches_per_epoch = 0;  // the log schedule's clock
  int64_t epochs = 0;             // the log schedule's warm-up length
};

using OptimizerRegistry =
    Registry<torch::optim::Optimizer, std::vector<at::Tensor>, const OptimizerSpec&>;

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
  // Its quantizer; schedule kNone when it does not quantize.
  virtual const Quantizer& quantizer() const = 0;
  // Where step() runs for the parameters (and gradients) it holds now.
  virtual StepPath step_path() const = 0;
};

// step()'s loss: the closure's, evaluated with gradients on, or an undefined tensor without one.
at::Tensor EvaluateClosure(const torch::optim::Optimizer::LossClosure& closure);

// The optimizer's quantizer, or nullptr when it does not quantize (SGD, Adam, AdamW).
const Quantizer* QuantizerOf(const torch::optim::Optimizer& optimizer);

// Where a qres optimizer's step runs now; nullopt for other optimizers.
std::optional<StepPath> StepPathOf(const torch::optim::Optimizer& optimizer);

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
