#include "qres/python/step_checks.h"

#include <algorithm>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "c10/util/Exception.h"

namespace qres::optim {
namespace {

std::string Shape(const at::Tensor& t) { return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]"); }

// "parameter 3 ('fc.bias')" (the name where named_parameters gave one).
std::string ParamName(const StepTensors& in, int64_t i) {
  std::string label = absl::StrCat("parameter ", i);
  if (static_cast<int64_t>(in.names.size()) > i && !in.names.get(i).empty()) {
    absl::StrAppend(&label, " ('", in.names.get(i), "')");
  }
  return label;
}
// "QtAdamW: parameter 3 ('fc.bias')".
std::string Param(const StepTensors& in, int64_t i) { return absl::StrCat(in.algorithm, ": ", ParamName(in, i)); }

// The parameter and gradient as the step's loops take them.
void CheckParamAndGrad(const StepTensors& in, int64_t i) {
  const at::Tensor& param = in.params[i];
  TORCH_CHECK_VALUE(param.defined() && param.layout() == at::kStrided, Param(in, i), " is not a dense tensor");
  TORCH_CHECK_VALUE(!param.is_meta(), Param(in, i), " is on the meta device: it has no values to step");
  TORCH_CHECK_VALUE(!param.is_complex(), Param(in, i), " is complex (", param.scalar_type(),
                    "): qres's optimizers step real parameters (view a complex one with torch.view_as_real)");
  TORCH_CHECK_VALUE(at::isFloatingType(param.scalar_type()), Param(in, i), " has dtype ", param.scalar_type(),
                    ": qres's optimizers step floating-point parameters");
  const std::optional<at::Tensor> grad = in.grads.get(i);
  if (!grad.has_value()) return;
  TORCH_CHECK_VALUE(grad->layout() == at::kStrided, Param(in, i), ": its gradient is not dense (", grad->layout(),
                    "); qres's optimizers take dense gradients");
  TORCH_CHECK_VALUE(
      grad->sizes() == param.sizes() && grad->scalar_type() == param.scalar_type() && grad->device() == param.device(),
      Param(in, i), ": its gradient is ", grad->scalar_type(), " ", Shape(*grad), " on ", grad->device(),
      ", the parameter ", param.scalar_type(), " ", Shape(param), " on ", param.device());
}

// A state tensor exactly like its parameter (contiguous: the loops index it flat).
void CheckLikeParam(const StepTensors& in, int64_t i, const at::Tensor& state, const std::string& entry) {
  const at::Tensor& param = in.params[i];
  TORCH_CHECK_VALUE(state.defined(), Param(in, i), ": state '", entry, "' is missing");
  TORCH_CHECK_VALUE(
      state.layout() == at::kStrided && state.sizes() == param.sizes() && state.scalar_type() == param.scalar_type() &&
          state.device() == param.device() && state.is_contiguous(),
      Param(in, i), ": state '", entry, "' is ", state.scalar_type(), " ", Shape(state), " on ", state.device(),
      state.is_contiguous() ? "" : " (not contiguous)", "; the parameter is ", param.scalar_type(), " ", Shape(param),
      " on ", param.device(), " (was the state loaded for other parameters?)");
}

// No state tensor shares memory with another state tensor, a parameter or a gradient: the step
// writes them all. The byte ranges are sorted once (n log n), then swept: a range that begins before
// the furthest end seen so far overlaps the tensor that reached it.
void CheckNoStateOverlaps(const StepTensors& in, const std::vector<int64_t>& stepped) {
  struct Range {
    c10::Device device;
    uintptr_t begin, end;
    bool state;
    int64_t param;
    const std::string* entry;
  };
  std::vector<Range> ranges;
  const std::string parameter = "the parameter", gradient = "the gradient";
  auto add = [&](const at::Tensor& t, bool state, int64_t param, const std::string* entry) {
    if (!t.defined() || t.numel() == 0 || t.is_meta()) return;
    int64_t extent = 1;  // elements from the first to the last, inclusive (torch's strides are >= 0)
    for (int64_t d = 0; d < t.dim(); ++d) extent += (t.size(d) - 1) * t.stride(d);
    const auto begin = reinterpret_cast<uintptr_t>(t.data_ptr());
    ranges.push_back(
        {t.device(), begin, begin + static_cast<uintptr_t>(extent * t.element_size()), state, param, entry});
  };
  for (int64_t i : stepped) {
    add(in.params[i], false, i, &parameter);
    if (in.grads.get(i).has_value()) add(*in.grads.get(i), false, i, &gradient);
    for (size_t b = 0; b < in.buffers.size(); ++b) add(in.buffers[b][i], true, i, &in.buffer_names[b]);
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
      TORCH_CHECK_VALUE(false, Param(in, state.param), ": state '", *state.entry, "' shares memory with ",
                        with.param == state.param ? "" : absl::StrCat(ParamName(in, with.param), "'s "),
                        with.state ? absl::StrCat("state '", *with.entry, "'") : *with.entry,
                        "; each state tensor must be its own (clone it)");
    }
    if (furthest == nullptr || r.end > furthest->end) furthest = &r;
    if (r.state && (furthest_state == nullptr || r.end > furthest_state->end)) furthest_state = &r;
  }
}

}  // namespace

void CheckStepTensors(const StepTensors& in, bool every_state) {
  const int64_t n = static_cast<int64_t>(in.params.size());
  std::vector<int64_t> stepped;
  for (int64_t i = 0; i < n; ++i) {
    CheckParamAndGrad(in, i);
    const at::Tensor& count = in.steps[i];
    TORCH_CHECK_VALUE(count.defined() && count.scalar_type() == at::kLong && count.numel() == 1 &&
                          count.device().is_cpu() && count.layout() == at::kStrided,
                      Param(in, i), ": state 'step' must be a CPU int64 scalar tensor, not ", count.scalar_type(), " ",
                      Shape(count), " on ", count.device());
    TORCH_CHECK_VALUE(*count.data_ptr<int64_t>() >= 0, Param(in, i), ": state 'step' is ", *count.data_ptr<int64_t>(),
                      "; a step count is >= 0");
    bool has_state = *count.data_ptr<int64_t>() > 0;
    for (const at::TensorList& buffers : in.buffers) has_state |= buffers[i].defined() && buffers[i].numel() != 0;
    if (!(in.grads.get(i).has_value() || (every_state && has_state))) continue;
    stepped.push_back(i);
    for (size_t b = 0; b < in.buffers.size(); ++b) {
      const at::Tensor& buffer = in.buffers[b][i];
      if (in.buffers_made_at_first_use && buffer.defined() && buffer.numel() == 0) continue;  // not made yet
      CheckLikeParam(in, i, buffer, in.buffer_names[b]);
    }
  }
  CheckNoStateOverlaps(in, stepped);
}

void CheckQuantizerTensors(const std::string& algorithm, const at::Tensor& quantizer_state, const at::Tensor& index,
                           int64_t n) {
  TORCH_CHECK_VALUE(quantizer_state.scalar_type() == at::kLong && quantizer_state.numel() == 3 + n &&
                        quantizer_state.is_contiguous() && quantizer_state.device().is_cpu(),
                    algorithm, ": state 'qres_quantizer' must be a CPU int64 tensor of 3 + ", n,
                    " entries (one per parameter), not ", quantizer_state.scalar_type(), " ", Shape(quantizer_state));
  TORCH_CHECK_VALUE(index.scalar_type() == at::kDouble && index.numel() == 1 && index.device().is_cpu(), algorithm,
                    ": state 'qres_index' must be a CPU float64 tensor of one element");
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
  for (int64_t i = 0; i < n; ++i)
    check_index(entries[3 + i], absl::StrCat("[", 3 + i, "] (parameter ", i, "'s index)"));
}

}  // namespace qres::optim
