// qres's optimizers as PyTorch operators, for the Python package (qres/python/qres). Stateless:
// every state a step reads or writes is a tensor argument, mutated in place (the schemas' alias
// annotations say which), so Python's torch.optim.Optimizer keeps it in its state_dict.
//
// Each call builds the C++ optimizer of the registry (qres/optim) over the given tensors, hands it
// the state from the arguments, runs its step() and writes the state back: the same code, so the
// same bits, defaults and error messages as the C++ library and the train tool.
//
//   qres::step_(algorithm, optim_params[], numbers, number_keys[], group_sizes[], quant_params, qp,
//               batches_per_epoch, epochs, param_names[], params[], grads[], state0[], state1[],
//               steps, quantizer_state, index)
//     params: every parameter of every group, in order (a parameter's position is the
//       quantizer's tensor id); group g has group_sizes[g] of them and its own options: its lr and
//       numeric options in row g of `numbers` (a CPU float64 tensor [groups, 1 + number_keys]: lr,
//       then one column per entry of number_keys, a key repeated in a row being one list, as betas),
//       the others in optim_params[g] ("key=value,..."). The numbers travel as a tensor so that a
//       compiled step reads new values (a scheduled lr, OneCycleLR's betas) without recompiling.
//       grads[i]: params[i]'s gradient, or None (not stepped).
//     param_names: the parameters' names for error messages (named_parameters), or empty.
//     state0/state1: the family's state buffers by OptimizerBase::BufferNames() (Adam's exp_avg and
//       exp_avg_sq; SGD's momentum buffer in state0, state1 empty), handed over without knowing the
//       family (OptimizerBase::ImportState/ExportState).
//     steps: each parameter's step count, an int64 scalar tensor.
//     quantizer_state: int64 [3 + params]: set (0 before the first step), the bump schedule's
//       index, the quantized steps so far, each tensor's own index (scope=per_tensor).
//     index: float64 [1], written: the quantizer's reported index after the step (Quantizer::index()).
//   qres::describe(algorithm, optim_params, numbers, number_keys[], quant_params, qp, batches_per_epoch,
//                  epochs) -> str
//     one group's optimizer's one-line description (numbers: [1 + number_keys]), or the
//     registry's error for bad options.
//
// Every tensor is checked before anything is written (step_checks.h): a state of another shape,
// dtype or device than its parameter, state tensors that overlap each other or a parameter, or a
// quantizer index outside its schedule's range is a ValueError naming the parameter and the state
// entry, never a write past a buffer.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "ATen/ops/empty.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qres/optim/optimizer.h"
#include "qres/optim/optimizer_base.h"
#include "qres/python/step_checks.h"
#include "torch/library.h"

namespace qres::optim {
namespace {

void ThrowIfError(const absl::Status& status) { TORCH_CHECK_VALUE(status.ok(), std::string(status.message())); }

std::unique_ptr<torch::optim::Optimizer> Create(const std::string& algorithm, std::vector<at::Tensor> params,
                                                const std::string& optim_params, double lr,
                                                const std::string& quant_params, int64_t qp, int64_t batches_per_epoch,
                                                int64_t epochs) {
  OptimizerSpec spec;
  spec.lr = lr;
  spec.qp = qp;
  spec.optim_params = optim_params;
  spec.quant_params = quant_params;
  spec.batches_per_epoch = batches_per_epoch;
  spec.epochs = epochs;
  auto created = OptimizerRegistry::Create(algorithm, std::move(params), spec);
  ThrowIfError(created.status());
  TORCH_CHECK_VALUE(dynamic_cast<OptimizerBase*>(created->get()) != nullptr, "algorithm ", algorithm,
                    " is not available from Python: use torch.optim's");
  return std::move(*created);
}

// The lr and options of `numbers` (lr, then one value per key; a key repeated in a row is one list,
// its values joined by ':'), in the parser's text after `text`. %.17g reads back as the same double.
std::pair<double, std::string> GroupOptions(const std::string& text, const double* numbers,
                                            const c10::List<std::string>& keys) {
  std::string options = text;
  for (size_t k = 0; k < keys.size(); ++k) {
    const bool continues = k > 0 && keys.get(k) == keys.get(k - 1);
    absl::StrAppend(&options, continues ? ":" : absl::StrCat(options.empty() ? "" : ",", keys.get(k), "="),
                    absl::StrFormat("%.17g", numbers[1 + k]));
  }
  return {numbers[0], options};
}

void CheckNumbers(const at::Tensor& numbers, int64_t rows, const c10::List<std::string>& keys) {
  TORCH_CHECK(numbers.scalar_type() == at::kDouble && numbers.device().is_cpu() && numbers.is_contiguous() &&
                  numbers.numel() == rows * (1 + static_cast<int64_t>(keys.size())),
              "qres: numbers must be a contiguous CPU float64 tensor of ", rows, " x (1 + ", keys.size(), ")");
}

std::string Describe(c10::string_view algorithm, c10::string_view optim_params, const at::Tensor& numbers,
                     const c10::List<std::string>& number_keys, c10::string_view quant_params, int64_t qp,
                     int64_t batches_per_epoch, int64_t epochs) {
  CheckNumbers(numbers, 1, number_keys);
  const auto [lr, options] = GroupOptions(std::string(optim_params), numbers.data_ptr<double>(), number_keys);
  const auto param = at::empty({1}, at::kFloat);
  auto optimizer =
      Create(std::string(algorithm), {param}, options, lr, std::string(quant_params), qp, batches_per_epoch, epochs);
  const Quantizer& quantizer = static_cast<OptimizerBase&>(*optimizer).quantizer();
  return quantizer.options().schedule == QuantSchedule::kNone
             ? std::string(algorithm)
             : absl::StrCat(std::string(algorithm), ", quantizer ", quantizer.options().Describe());
}

// Puts the step's gradients where the C++ optimizer reads them (param.grad()) and puts back what was
// there when it goes: a maximizing group's negated gradients, or a compiled step's, never outlive it.
class GradSwap {
 public:
  GradSwap(at::TensorList params, const c10::List<std::optional<at::Tensor>>& grads) : params_(params) {
    saved_.reserve(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const at::Tensor& param = params[i];
      saved_.push_back(param.grad());
      const std::optional<at::Tensor> grad = grads.get(i);
      if (grad.has_value() && !(param.grad().defined() && param.grad().is_same(*grad))) {
        param.mutable_grad() = *grad;
      }
    }
  }
  ~GradSwap() {
    for (size_t i = 0; i < params_.size(); ++i) {
      if (!params_[i].grad().is_same(saved_[i])) params_[i].mutable_grad() = saved_[i];
    }
  }
  GradSwap(const GradSwap&) = delete;
  GradSwap& operator=(const GradSwap&) = delete;

 private:
  at::TensorList params_;
  std::vector<at::Tensor> saved_;
};

// The op step_, or with kCheckOnly the op check (Python's load_state_dict): every check, then nothing
// written.
template <bool kCheckOnly>
void StepOrCheck(c10::string_view algorithm_view, const c10::List<std::string>& optim_params, const at::Tensor& numbers,
                 const c10::List<std::string>& number_keys, c10::IntArrayRef group_sizes, c10::string_view quant_params,
                 int64_t qp, int64_t batches_per_epoch, int64_t epochs, const c10::List<std::string>& param_names,
                 at::TensorList params, const c10::List<std::optional<at::Tensor>>& grads, at::TensorList state0,
                 at::TensorList state1, at::TensorList steps, const at::Tensor& quantizer_state,
                 const at::Tensor& index) {
  const std::string algorithm(algorithm_view);
  const int64_t n = static_cast<int64_t>(params.size());
  const int64_t groups = static_cast<int64_t>(group_sizes.size());
  TORCH_CHECK(static_cast<int64_t>(optim_params.size()) == groups && groups > 0,
              "qres::step_: one options string and size per group");
  CheckNumbers(numbers, groups, number_keys);
  TORCH_CHECK(static_cast<int64_t>(grads.size()) == n && static_cast<int64_t>(state0.size()) == n,
              "qres::step_: one gradient and state per parameter");
  TORCH_CHECK(static_cast<int64_t>(steps.size()) == n, "qres::step_: one step count per parameter");
  CheckQuantizerTensors(algorithm, quantizer_state, index, n);
  // The groups, as the C++ optimizer holds them: the first from the registry, the others with the
  // options the registry makes of their own strings (so their errors are the same too).
  const double* rows = numbers.data_ptr<double>();
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  int64_t first = 0;
  for (size_t g = 0; g < group_sizes.size(); ++g) {
    TORCH_CHECK(group_sizes[g] >= 0 && first + group_sizes[g] <= n,
                "qres::step_: the groups' sizes exceed the parameters");
    std::vector<at::Tensor> group(params.begin() + first, params.begin() + first + group_sizes[g]);
    first += group_sizes[g];
    const auto [lr, options] = GroupOptions(optim_params.get(g), rows + g * (1 + number_keys.size()), number_keys);
    auto made = Create(algorithm, group, options, lr, std::string(quant_params), qp, batches_per_epoch, epochs);
    if (!optimizer) {
      optimizer = std::move(made);
    } else {
      optimizer->add_param_group(
          torch::optim::OptimizerParamGroup(std::move(group), made->param_groups()[0].options().clone()));
    }
  }
  TORCH_CHECK(first == n, "qres::step_: the groups' sizes do not add up to the parameters");

  // The family's state, by buffer name: state0 and state1 are its first two buffers' lists.
  auto& family = static_cast<OptimizerBase&>(*optimizer);  // Create made sure it is one
  StepTensors tensors{algorithm, param_names, params, grads, steps};
  tensors.buffer_names = family.BufferNames();
  tensors.buffers_made_at_first_use = family.BuffersMadeAtFirstUse();
  const at::TensorList lists[] = {state0, state1};
  TORCH_CHECK(tensors.buffer_names.size() <= 2, "qres::step_: a family of more than two buffers per parameter");
  for (size_t b = 0; b < tensors.buffer_names.size(); ++b) {
    TORCH_CHECK(static_cast<int64_t>(lists[b].size()) == n, "qres::step_: ", algorithm, " takes ",
                tensors.buffer_names.size(), " state lists of one tensor per parameter");
    tensors.buffers.push_back(lists[b]);
  }
  CheckStepTensors(tensors, /*every_state=*/kCheckOnly);
  int64_t* quantizer_entries = quantizer_state.data_ptr<int64_t>();
  CheckQuantizerState(algorithm, family.quantizer().options(), quantizer_entries, n);
  if (kCheckOnly) return;

  GradSwap grads_in_place(params, grads);
  for (int64_t i = 0; i < n; ++i) {
    if (!grads.get(i).has_value()) continue;
    ParamStateSnapshot state{*steps[i].data_ptr<int64_t>(), {}};
    for (const at::TensorList& buffers : tensors.buffers) state.buffers.push_back(buffers[i]);
    family.ImportState(params[i], state);
  }
  if (quantizer_entries[0] != 0) {
    QuantizerState state;
    state.index = quantizer_entries[1];
    state.calls = quantizer_entries[2];
    state.tensor_indices.assign(quantizer_entries + 3, quantizer_entries + 3 + n);
    family.set_quantizer_state(std::move(state));
  }

  optimizer->step();

  for (int64_t i = 0; i < n; ++i) {
    if (!grads.get(i).has_value()) continue;
    const ParamStateSnapshot state = family.ExportState(params[i]);
    *steps[i].data_ptr<int64_t>() = state.step;
    for (size_t b = 0; b < state.buffers.size(); ++b) {
      // A buffer made at its first use (SGD's momentum): the caller's, empty until now, holds it from now on.
      const at::Tensor& made = state.buffers[b];
      if (made.defined() && !made.is_same(tensors.buffers[b][i])) tensors.buffers[b][i].resize_as_(made).copy_(made);
    }
  }
  const Quantizer& quantizer = family.quantizer();
  const QuantizerState& state = quantizer.state();
  quantizer_entries[0] = 1;
  quantizer_entries[1] = state.index;
  quantizer_entries[2] = state.calls;
  for (int64_t i = 0; i < n; ++i) {
    quantizer_entries[3 + i] = i < static_cast<int64_t>(state.tensor_indices.size())
                                   ? state.tensor_indices[i]
                                   : quantizer.options().initial_index;
  }
  *index.data_ptr<double>() = quantizer.index();  // 0 without a quantizer
}

TORCH_LIBRARY(qres, m) {
  m.def(
      "step_(str algorithm, str[] optim_params, Tensor numbers, str[] number_keys, int[] group_sizes, str "
      "quant_params, int qp, "
      "int batches_per_epoch, int epochs, str[] param_names, Tensor(a!)[] params, Tensor?[] grads, "
      "Tensor(b!)[] state0, Tensor(c!)[] state1, Tensor(d!)[] steps, Tensor(e!) quantizer_state, "
      "Tensor(f!) index) -> ()");
  // step_'s checks alone (Python's load_state_dict), writing nothing.
  m.def(
      "check(str algorithm, str[] optim_params, Tensor numbers, str[] number_keys, int[] group_sizes, str "
      "quant_params, int qp, "
      "int batches_per_epoch, int epochs, str[] param_names, Tensor[] params, Tensor?[] grads, Tensor[] state0, "
      "Tensor[] state1, Tensor[] steps, Tensor quantizer_state, Tensor index) -> ()",
      &StepOrCheck</*kCheckOnly=*/true>);
  m.def(
      "describe(str algorithm, str optim_params, Tensor numbers, str[] number_keys, str quant_params, int qp, "
      "int batches_per_epoch, int epochs) -> str",
      &Describe);
}

// On a GPU the C++ optimizer takes its fused CUDA step when the build has it (--config=cuda), else
// its ATen path; the step counts and the quantizer's state stay CPU tensors either way.
TORCH_LIBRARY_IMPL(qres, CPU, m) { m.impl("step_", &StepOrCheck</*kCheckOnly=*/false>); }
TORCH_LIBRARY_IMPL(qres, CUDA, m) { m.impl("step_", &StepOrCheck</*kCheckOnly=*/false>); }
// A sparse tensor among the arguments reaches the checks too, which refuse it by name.
TORCH_LIBRARY_IMPL(qres, SparseCPU, m) { m.impl("step_", &StepOrCheck</*kCheckOnly=*/false>); }
TORCH_LIBRARY_IMPL(qres, SparseCUDA, m) { m.impl("step_", &StepOrCheck</*kCheckOnly=*/false>); }

}  // namespace
}  // namespace qres::optim
