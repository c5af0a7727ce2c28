// qres's optimizers as PyTorch operators, for the Python package (qres/python/qres). Stateless:
// every state a step reads or writes is a tensor argument, mutated in place (the schemas' alias
// annotations say which), so Python's torch.optim.Optimizer keeps it in its state_dict.
//
// Each call builds the C++ optimizer of the registry (qres/optim) over the given tensors, hands it
// the state from the arguments, runs its step() and writes the state back: the same code, so the
// same bits, defaults and error messages as the C++ library and the train tool.
//
//   qres::step_(algorithm, optim_params[], lrs[], group_sizes[], quant_params, qp,
//               batches_per_epoch, epochs, params[], grads[], state0[], state1[], steps,
//               quantizer_state, index)
//     params: every parameter of every group, in order (a parameter's position is the
//       quantizer's tensor id); group g has group_sizes[g] of them, its own lr and
//       "key=value,..." options. grads[i]: params[i]'s gradient, or None (not stepped).
//     state0/state1: Adam's exp_avg/exp_avg_sq; SGD's momentum buffer (state0), state1 empty.
//     steps: each parameter's step count, an int64 scalar tensor.
//     quantizer_state: int64 [3 + params]: set (0 before the first step), the bump schedule's
//       index, the quantized steps so far, each tensor's own index (scope=per_tensor).
//     index: float64 [1], written: the quantizer's reported index after the step (Quantizer::index()).
//   qres::describe(algorithm, optim_params, quant_params, qp, lr, batches_per_epoch, epochs) -> str
//     the optimizer's one-line description, or the registry's error for bad options.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "ATen/ops/empty.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "qres/optim/adam.h"
#include "qres/optim/optimizer.h"
#include "qres/optim/sgd.h"
#include "torch/library.h"

namespace qres::optim {
namespace {

void ThrowIfError(const absl::Status& status) {
  TORCH_CHECK_VALUE(status.ok(), std::string(status.message()));
}

std::unique_ptr<torch::optim::Optimizer> Create(const std::string& algorithm, std::vector<at::Tensor> params,
                                                const std::string& optim_params, double lr,
                                                const std::string& quant_params, int64_t qp,
                                                int64_t batches_per_epoch, int64_t epochs) {
  OptimizerSpec spec;
  spec.lr = lr;
  spec.qp = qp;
  spec.optim_params = optim_params;
  spec.quant_params = quant_params;
  spec.batches_per_epoch = batches_per_epoch;
  spec.epochs = epochs;
  auto created = OptimizerRegistry::Create(algorithm, std::move(params), spec);
  ThrowIfError(created.status());
  TORCH_CHECK_VALUE(dynamic_cast<QresOptimizer*>(created->get()) != nullptr, "algorithm ", algorithm,
                    " is not available from Python: use torch.optim's");
  return std::move(*created);
}

std::string Describe(c10::string_view algorithm, c10::string_view optim_params, c10::string_view quant_params,
                     int64_t qp, double lr, int64_t batches_per_epoch, int64_t epochs) {
  const auto param = at::empty({1}, at::kFloat);
  auto optimizer = Create(std::string(algorithm), {param}, std::string(optim_params), lr, std::string(quant_params),
                          qp, batches_per_epoch, epochs);
  const Quantizer& quantizer = dynamic_cast<QresOptimizer&>(*optimizer).quantizer();
  return quantizer.options().schedule == QuantSchedule::kNone
             ? std::string(algorithm)
             : absl::StrCat(std::string(algorithm), ", quantizer ", quantizer.options().Describe());
}

void Step(c10::string_view algorithm, const c10::List<std::string>& optim_params, c10::ArrayRef<double> lrs,
          c10::IntArrayRef group_sizes, c10::string_view quant_params, int64_t qp, int64_t batches_per_epoch,
          int64_t epochs, at::TensorList params, const c10::List<std::optional<at::Tensor>>& grads,
          at::TensorList state0, at::TensorList state1, at::TensorList steps, const at::Tensor& quantizer_state,
          const at::Tensor& index) {
  const int64_t n = static_cast<int64_t>(params.size());
  TORCH_CHECK(optim_params.size() == lrs.size() && lrs.size() == group_sizes.size() && !group_sizes.empty(),
              "qres::step_: one options string, lr and size per group");
  TORCH_CHECK(static_cast<int64_t>(grads.size()) == n && static_cast<int64_t>(state0.size()) == n,
              "qres::step_: one gradient and state per parameter");
  TORCH_CHECK(static_cast<int64_t>(steps.size()) == n, "qres::step_: one step count per parameter");
  for (const at::Tensor& count : steps) {
    TORCH_CHECK(count.dtype() == at::kLong && count.numel() == 1 && count.device().is_cpu() && count.is_contiguous(),
                "qres::step_: a step count must be a CPU int64 scalar tensor");
  }
  TORCH_CHECK(quantizer_state.dtype() == at::kLong && quantizer_state.numel() == 3 + n &&
                  quantizer_state.is_contiguous() && quantizer_state.device().is_cpu(),
              "qres::step_: quantizer_state must be a CPU int64 tensor of 3 + one entry per parameter");
  TORCH_CHECK(index.dtype() == at::kDouble && index.numel() == 1 && index.device().is_cpu(),
              "qres::step_: index must be a CPU float64 tensor of one element");
  // The groups, as the C++ optimizer holds them: the first from the registry, the others with the
  // options the registry makes of their own strings (so their errors are the same too).
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  int64_t first = 0;
  for (size_t g = 0; g < group_sizes.size(); ++g) {
    std::vector<at::Tensor> group(params.begin() + first, params.begin() + first + group_sizes[g]);
    first += group_sizes[g];
    auto made = Create(std::string(algorithm), group, optim_params.get(g), lrs[g], std::string(quant_params), qp,
                       batches_per_epoch, epochs);
    if (!optimizer) {
      optimizer = std::move(made);
    } else {
      optimizer->add_param_group(
          torch::optim::OptimizerParamGroup(std::move(group), made->param_groups()[0].options().clone()));
    }
  }
  TORCH_CHECK(first == n, "qres::step_: the groups' sizes do not add up to the parameters");

  const bool adam = dynamic_cast<AdamFamily*>(optimizer.get()) != nullptr;
  TORCH_CHECK(!adam || static_cast<int64_t>(state1.size()) == n, "qres::step_: Adam takes two states per parameter");
  for (int64_t i = 0; i < n; ++i) {
    const at::Tensor& param = params[i];
    const std::optional<at::Tensor> grad = grads.get(i);
    if (!grad.has_value()) continue;
    // The C++ optimizer reads param.grad(): in eager mode it is this gradient already.
    if (!param.grad().defined() || !param.grad().is_same(*grad)) param.mutable_grad() = *grad;
    auto& slot = optimizer->state()[param.unsafeGetTensorImpl()];
    if (adam) {
      auto state = std::make_unique<AdamParamState>();
      state->step(*steps[i].data_ptr<int64_t>());
      state->exp_avg(state0[i]);
      state->exp_avg_sq(state1[i]);
      slot = std::move(state);
    } else {
      auto state = std::make_unique<SgdParamState>();
      state->step(*steps[i].data_ptr<int64_t>());
      if (state0[i].numel() > 0) state->momentum_buffer(state0[i]);  // empty until a first momentum step
      slot = std::move(state);
    }
  }
  auto& qres_optimizer = dynamic_cast<QresOptimizer&>(*optimizer);
  int64_t* quantizer_entries = quantizer_state.data_ptr<int64_t>();
  if (quantizer_entries[0] != 0) {
    QuantizerState state;
    state.index = quantizer_entries[1];
    state.calls = quantizer_entries[2];
    state.tensor_indices.assign(quantizer_entries + 3, quantizer_entries + 3 + n);
    qres_optimizer.set_quantizer_state(std::move(state));
  }

  optimizer->step();

  for (int64_t i = 0; i < n; ++i) {
    if (!grads.get(i).has_value()) continue;
    const auto& slot = optimizer->state().at(params[i].unsafeGetTensorImpl());
    if (adam) {
      *steps[i].data_ptr<int64_t>() = static_cast<const AdamParamState&>(*slot).step();
    } else {
      const auto& state = static_cast<const SgdParamState&>(*slot);
      *steps[i].data_ptr<int64_t>() = state.step();
      // A first momentum step made its own buffer; the caller's (empty until now) holds it from now on.
      if (state.momentum_buffer().defined() && !state.momentum_buffer().is_same(state0[i])) {
        state0[i].resize_as_(state.momentum_buffer()).copy_(state.momentum_buffer());
      }
    }
  }
  const Quantizer& quantizer = qres_optimizer.quantizer();
  const QuantizerState& state = quantizer.state();
  quantizer_entries[0] = 1;
  quantizer_entries[1] = state.index;
  quantizer_entries[2] = state.calls;
  for (int64_t i = 0; i < n; ++i) {
    quantizer_entries[3 + i] = i < static_cast<int64_t>(state.tensor_indices.size()) ? state.tensor_indices[i]
                                                                                    : quantizer.options().initial_index;
  }
  *index.data_ptr<double>() = quantizer.index();  // 0 without a quantizer
}

TORCH_LIBRARY(qres, m) {
  m.def(
      "step_(str algorithm, str[] optim_params, float[] lrs, int[] group_sizes, str quant_params, int qp, "
      "int batches_per_epoch, int epochs, Tensor(a!)[] params, Tensor?[] grads, Tensor(b!)[] state0, "
      "Tensor(c!)[] state1, Tensor(d!)[] steps, Tensor(e!) quantizer_state, Tensor(f!) index) -> ()");
  m.def(
      "describe(str algorithm, str optim_params, str quant_params, int qp, float lr, int batches_per_epoch, "
      "int epochs) -> str",
      &Describe);
}

// On a GPU the C++ optimizer takes its fused CUDA step when the build has it (--config=cuda), else
// its ATen path; the step counts and the quantizer's state stay CPU tensors either way.
TORCH_LIBRARY_IMPL(qres, CPU, m) { m.impl("step_", &Step); }
TORCH_LIBRARY_IMPL(qres, CUDA, m) { m.impl("step_", &Step); }

}  // namespace
}  // namespace qres::optim
