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
//     state0/state1: Adam's exp_avg/exp_avg_sq; SGD's momentum buffer (state0), state1 empty.
//     steps: each parameter's step count, an int64 scalar tensor.
//     quantizer_state: int64 [3 + params]: set (0 before the first step), the bump schedule's
//       index, the quantized steps so far, each tensor's own index (scope=per_tensor).
//     index: float64 [1], written: the quantizer's reported index after the step (Quantizer::index()).
//   qres::describe(algorithm, optim_params, numbers, number_keys[], quant_params, qp, batches_per_epoch,
//                  epochs) -> str
//     one group's optimizer's one-line description (numbers: [1 + number_keys]), or the
//     registry's error for bad options.
//
// Every tensor is checked before anything is written (CheckStepInputs): a state of another shape,
// dtype or device than its parameter, state tensors that overlap each other or a parameter, or a
// quantizer index outside its schedule's range is a ValueError naming the parameter and the state
// entry, never a write past a buffer.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ATen/core/Tensor.h"
#include "ATen/ops/empty.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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
  auto optimizer = Create(std::string(algorithm), {param}, options, lr, std::string(quant_params), qp,
                          batches_per_epoch, epochs);
  const Quantizer& quantizer = dynamic_cast<QresOptimizer&>(*optimizer).quantizer();
  return quantizer.options().schedule == QuantSchedule::kNone
             ? std::string(algorithm)
             : absl::StrCat(std::string(algorithm), ", quantizer ", quantizer.options().Describe());
}

std::string Shape(const at::Tensor& t) { return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]"); }

// The tensors of one step and how to name them in errors.
struct StepInputs {
  const std::string& algorithm;
  const c10::List<std::string>& names;
  at::TensorList params;
  const c10::List<std::optional<at::Tensor>>& grads;
  at::TensorList state0, state1, steps;
  bool adam;

  // "QtAdamW: parameter 3 ('fc.bias')" (the name where named_parameters gave one).
  std::string Param(int64_t i) const { return absl::StrCat(algorithm, ": ", ParamName(i)); }
  std::string ParamName(int64_t i) const {
    std::string label = absl::StrCat("parameter ", i);
    if (static_cast<int64_t>(names.size()) > i && !names.get(i).empty()) {
      absl::StrAppend(&label, " ('", names.get(i), "')");
    }
    return label;
  }
  const char* State0() const { return adam ? "exp_avg" : "momentum_buffer"; }
};

// The parameter and gradient as the step's loops take them.
void CheckParamAndGrad(const StepInputs& in, int64_t i) {
  const at::Tensor& param = in.params[i];
  TORCH_CHECK_VALUE(param.defined() && param.layout() == at::kStrided, in.Param(i), " is not a dense tensor");
  TORCH_CHECK_VALUE(!param.is_meta(), in.Param(i), " is on the meta device: it has no values to step");
  TORCH_CHECK_VALUE(!param.is_complex(), in.Param(i), " is complex (", param.scalar_type(),
                    "): qres's optimizers step real parameters (view a complex one with torch.view_as_real)");
  TORCH_CHECK_VALUE(at::isFloatingType(param.scalar_type()), in.Param(i), " has dtype ", param.scalar_type(),
                    ": qres's optimizers step floating-point parameters");
  const std::optional<at::Tensor> grad = in.grads.get(i);
  if (!grad.has_value()) return;
  TORCH_CHECK_VALUE(grad->layout() == at::kStrided, in.Param(i), ": its gradient is not dense (",
                    grad->layout(), "); qres's optimizers take dense gradients");
  TORCH_CHECK_VALUE(grad->sizes() == param.sizes() && grad->scalar_type() == param.scalar_type() &&
                        grad->device() == param.device(),
                    in.Param(i), ": its gradient is ", grad->scalar_type(), " ", Shape(*grad), " on ", grad->device(),
                    ", the parameter ", param.scalar_type(), " ", Shape(param), " on ", param.device());
}

// A state tensor exactly like its parameter (contiguous: the loops index it flat).
void CheckLikeParam(const StepInputs& in, int64_t i, const at::Tensor& state, const char* entry) {
  const at::Tensor& param = in.params[i];
  TORCH_CHECK_VALUE(state.defined(), in.Param(i), ": state '", entry, "' is missing");
  TORCH_CHECK_VALUE(state.layout() == at::kStrided && state.sizes() == param.sizes() &&
                        state.scalar_type() == param.scalar_type() && state.device() == param.device() &&
                        state.is_contiguous(),
                    in.Param(i), ": state '", entry, "' is ", state.scalar_type(), " ", Shape(state), " on ",
                    state.device(), state.is_contiguous() ? "" : " (not contiguous)", "; the parameter is ",
                    param.scalar_type(), " ", Shape(param), " on ", param.device(),
                    " (was the state loaded for other parameters?)");
}

// No state tensor shares memory with another state tensor, a parameter or a gradient: the step
// writes them all. The byte ranges are sorted once (n log n), then swept: a range that begins before
// the furthest end seen so far overlaps the tensor that reached it.
void CheckNoStateOverlaps(const StepInputs& in, const std::vector<int64_t>& stepped) {
  struct Range {
    c10::Device device;
    uintptr_t begin, end;
    bool state;
    int64_t param;
    const char* entry;
  };
  std::vector<Range> ranges;
  auto add = [&](const at::Tensor& t, bool state, int64_t param, const char* entry) {
    if (!t.defined() || t.numel() == 0 || t.is_meta()) return;
    int64_t extent = 1;  // elements from the first to the last, inclusive (torch's strides are >= 0)
    for (int64_t d = 0; d < t.dim(); ++d) extent += (t.size(d) - 1) * t.stride(d);
    const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
    ranges.push_back({t.device(), begin, begin + static_cast<uintptr_t>(extent * t.element_size()), state, param,
                      entry});
  };
  for (int64_t i : stepped) {
    add(in.params[i], false, i, "the parameter");
    if (in.grads.get(i).has_value()) add(*in.grads.get(i), false, i, "the gradient");
    add(in.state0[i], true, i, in.State0());
    if (in.adam) add(in.state1[i], true, i, "exp_avg_sq");
  }
  auto key = [](const Range& r) { return std::make_tuple(r.device.type(), r.device.index(), r.begin); };
  std::sort(ranges.begin(), ranges.end(), [&](const Range& a, const Range& b) { return key(a) < key(b); });
  const Range* furthest = nullptr;        // of every range on this device
  const Range* furthest_state = nullptr;  // of the state ranges
  for (const Range& r : ranges) {
    if (furthest != nullptr && furthest->device != r.device) furthest = furthest_state = nullptr;
    const Range* other = r.state ? furthest : furthest_state;
    if (other != nullptr && r.begin < other->end) {
      const Range& state = r.state ? r : *other;
      const Range& with = r.state ? *other : r;
      TORCH_CHECK_VALUE(false, in.Param(state.param), ": state '", state.entry, "' shares memory with ",
                        with.param == state.param ? "" : absl::StrCat(in.ParamName(with.param), "'s "),
                        with.state ? absl::StrCat("state '", with.entry, "'") : std::string(with.entry),
                        "; each state tensor must be its own (clone it)");
    }
    if (furthest == nullptr || r.end > furthest->end) furthest = &r;
    if (r.state && (furthest_state == nullptr || r.end > furthest_state->end)) furthest_state = &r;
  }
}

// Checks the states of the parameters stepped now (with a gradient), or with `every_state` of every
// parameter that has one (a step count above 0 or a nonempty buffer: a loaded state).
void CheckStepInputs(const StepInputs& in, bool every_state) {
  const int64_t n = static_cast<int64_t>(in.params.size());
  std::vector<int64_t> stepped;
  for (int64_t i = 0; i < n; ++i) {
    CheckParamAndGrad(in, i);
    const at::Tensor& count = in.steps[i];
    TORCH_CHECK_VALUE(count.defined() && count.scalar_type() == at::kLong && count.numel() == 1 &&
                          count.device().is_cpu() && count.layout() == at::kStrided,
                      in.Param(i), ": state 'step' must be a CPU int64 scalar tensor, not ", count.scalar_type(), " ",
                      Shape(count), " on ", count.device());
    TORCH_CHECK_VALUE(*count.data_ptr<int64_t>() >= 0, in.Param(i), ": state 'step' is ",
                      *count.data_ptr<int64_t>(), "; a step count is >= 0");
    const bool has_state = *count.data_ptr<int64_t>() > 0 || in.state0[i].numel() != 0 ||
                           (in.adam && in.state1[i].numel() != 0);
    if (!(in.grads.get(i).has_value() || (every_state && has_state))) continue;
    stepped.push_back(i);
    if (in.adam) {
      CheckLikeParam(in, i, in.state0[i], "exp_avg");
      CheckLikeParam(in, i, in.state1[i], "exp_avg_sq");
    } else if (!in.state0[i].defined() || in.state0[i].numel() != 0) {  // empty until a first momentum step
      CheckLikeParam(in, i, in.state0[i], "momentum_buffer");
    }
  }
  CheckNoStateOverlaps(in, stepped);
}

// The quantizer's saved entries against its options: an index outside [-64, index_limit + 1] (where
// the bump rule can take it) would scale updates by 2^index beyond any float.
void CheckQuantizerState(const std::string& algorithm, const QuantizerOptions& options, const int64_t* entries,
                         int64_t n) {
  const std::string where = absl::StrCat(algorithm, ": state 'qres_quantizer'");
  TORCH_CHECK_VALUE(entries[0] == 0 || entries[0] == 1, where, "[0] (set) is ", entries[0], ", not 0 or 1");
  if (entries[0] == 0) return;
  auto check_index = [&](int64_t value, const std::string& what) {
    TORCH_CHECK_VALUE(value >= -64 && value <= options.index_limit + 1, where, what, " is ", value,
                      ", outside the schedule's range [-64, ", options.index_limit + 1, "] (index_limit + 1)");
  };
  check_index(entries[1], "[1] (the index)");
  TORCH_CHECK_VALUE(entries[2] >= 0, where, "[2] (the quantized steps) is ", entries[2], "; it counts from 0");
  for (int64_t i = 0; i < n; ++i) check_index(entries[3 + i], absl::StrCat("[", 3 + i, "] (parameter ", i, "'s index)"));
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

// step_, or with `check_only` the op `check` (Python's load_state_dict): every check, then nothing written.
void StepOrCheck(c10::string_view algorithm_view, const c10::List<std::string>& optim_params, const at::Tensor& numbers,
                 const c10::List<std::string>& number_keys,
                 c10::IntArrayRef group_sizes, c10::string_view quant_params, int64_t qp, int64_t batches_per_epoch,
                 int64_t epochs, const c10::List<std::string>& param_names, at::TensorList params,
                 const c10::List<std::optional<at::Tensor>>& grads, at::TensorList state0, at::TensorList state1,
                 at::TensorList steps, const at::Tensor& quantizer_state, const at::Tensor& index, bool check_only) {
  const std::string algorithm(algorithm_view);
  const int64_t n = static_cast<int64_t>(params.size());
  const int64_t groups = static_cast<int64_t>(group_sizes.size());
  TORCH_CHECK(static_cast<int64_t>(optim_params.size()) == groups && groups > 0,
              "qres::step_: one options string and size per group");
  CheckNumbers(numbers, groups, number_keys);
  TORCH_CHECK(static_cast<int64_t>(grads.size()) == n && static_cast<int64_t>(state0.size()) == n,
              "qres::step_: one gradient and state per parameter");
  TORCH_CHECK(static_cast<int64_t>(steps.size()) == n, "qres::step_: one step count per parameter");
  TORCH_CHECK_VALUE(quantizer_state.scalar_type() == at::kLong && quantizer_state.numel() == 3 + n &&
                        quantizer_state.is_contiguous() && quantizer_state.device().is_cpu(),
                    algorithm, ": state 'qres_quantizer' must be a CPU int64 tensor of 3 + ", n,
                    " entries (one per parameter), not ", quantizer_state.scalar_type(), " ", Shape(quantizer_state));
  TORCH_CHECK_VALUE(index.scalar_type() == at::kDouble && index.numel() == 1 && index.device().is_cpu(),
                    algorithm, ": state 'qres_index' must be a CPU float64 tensor of one element");
  // The groups, as the C++ optimizer holds them: the first from the registry, the others with the
  // options the registry makes of their own strings (so their errors are the same too).
  const double* rows = numbers.data_ptr<double>();
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  int64_t first = 0;
  for (size_t g = 0; g < group_sizes.size(); ++g) {
    TORCH_CHECK(group_sizes[g] >= 0 && first + group_sizes[g] <= n, "qres::step_: the groups' sizes exceed the parameters");
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

  const bool adam = dynamic_cast<AdamFamily*>(optimizer.get()) != nullptr;
  TORCH_CHECK(!adam || static_cast<int64_t>(state1.size()) == n, "qres::step_: Adam takes two states per parameter");
  CheckStepInputs({algorithm, param_names, params, grads, state0, state1, steps, adam}, check_only);
  auto& qres_optimizer = dynamic_cast<QresOptimizer&>(*optimizer);
  int64_t* quantizer_entries = quantizer_state.data_ptr<int64_t>();
  CheckQuantizerState(algorithm, qres_optimizer.quantizer().options(), quantizer_entries, n);
  if (check_only) return;

  GradSwap grads_in_place(params, grads);
  for (int64_t i = 0; i < n; ++i) {
    if (!grads.get(i).has_value()) continue;
    auto& slot = optimizer->state()[params[i].unsafeGetTensorImpl()];
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

void Step(c10::string_view algorithm, const c10::List<std::string>& optim_params, const at::Tensor& numbers,
                 const c10::List<std::string>& number_keys,
          c10::IntArrayRef group_sizes, c10::string_view quant_params, int64_t qp, int64_t batches_per_epoch,
          int64_t epochs, const c10::List<std::string>& param_names, at::TensorList params,
          const c10::List<std::optional<at::Tensor>>& grads, at::TensorList state0, at::TensorList state1,
          at::TensorList steps, const at::Tensor& quantizer_state, const at::Tensor& index) {
  StepOrCheck(algorithm, optim_params, numbers, number_keys, group_sizes, quant_params, qp, batches_per_epoch, epochs, param_names,
              params, grads, state0, state1, steps, quantizer_state, index, /*check_only=*/false);
}

void Check(c10::string_view algorithm, const c10::List<std::string>& optim_params, const at::Tensor& numbers,
                 const c10::List<std::string>& number_keys,
           c10::IntArrayRef group_sizes, c10::string_view quant_params, int64_t qp, int64_t batches_per_epoch,
           int64_t epochs, const c10::List<std::string>& param_names, at::TensorList params,
           const c10::List<std::optional<at::Tensor>>& grads, at::TensorList state0, at::TensorList state1,
           at::TensorList steps, const at::Tensor& quantizer_state, const at::Tensor& index) {
  StepOrCheck(algorithm, optim_params, numbers, number_keys, group_sizes, quant_params, qp, batches_per_epoch, epochs, param_names,
              params, grads, state0, state1, steps, quantizer_state, index, /*check_only=*/true);
}

TORCH_LIBRARY(qres, m) {
  m.def(
      "step_(str algorithm, str[] optim_params, Tensor numbers, str[] number_keys, int[] group_sizes, str quant_params, int qp, "
      "int batches_per_epoch, int epochs, str[] param_names, Tensor(a!)[] params, Tensor?[] grads, "
      "Tensor(b!)[] state0, Tensor(c!)[] state1, Tensor(d!)[] steps, Tensor(e!) quantizer_state, "
      "Tensor(f!) index) -> ()");
  // step_'s checks alone (Python's load_state_dict), writing nothing.
  m.def(
      "check(str algorithm, str[] optim_params, Tensor numbers, str[] number_keys, int[] group_sizes, str quant_params, int qp, "
      "int batches_per_epoch, int epochs, str[] param_names, Tensor[] params, Tensor?[] grads, Tensor[] state0, "
      "Tensor[] state1, Tensor[] steps, Tensor quantizer_state, Tensor index) -> ()",
      &Check);
  m.def(
      "describe(str algorithm, str optim_params, Tensor numbers, str[] number_keys, str quant_params, int qp, "
      "int batches_per_epoch, int epochs) -> str",
      &Describe);
}

// On a GPU the C++ optimizer takes its fused CUDA step when the build has it (--config=cuda), else
// its ATen path; the step counts and the quantizer's state stay CPU tensors either way.
TORCH_LIBRARY_IMPL(qres, CPU, m) { m.impl("step_", &Step); }
TORCH_LIBRARY_IMPL(qres, CUDA, m) { m.impl("step_", &Step); }
// A sparse tensor among the arguments reaches the checks too, which refuse it by name.
TORCH_LIBRARY_IMPL(qres, SparseCPU, m) { m.impl("step_", &Step); }
TORCH_LIBRARY_IMPL(qres, SparseCUDA, m) { m.impl("step_", &Step); }

}  // namespace
}  // namespace qres::optim
