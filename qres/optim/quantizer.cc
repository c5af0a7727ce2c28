#include "qres/optim/quantizer.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "ATen/ops/abs.h"
#include "ATen/ops/all.h"
#include "ATen/ops/any.h"
#include "ATen/ops/empty_like.h"
#include "ATen/ops/isfinite.h"
#include "ATen/ops/lt.h"
#include "ATen/ops/mul.h"
#include "ATen/ops/stack.h"
#include "ATen/ops/sum.h"
#include "ATen/ops/tensor.h"
#include "ATen/ops/where.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "c10/util/Exception.h"
#include "qres/base/status_macros.h"
#include "qres/optim/counter_rng.h"
#include "qres/optim/fused_cpu.h"
#include "qres/optim/quant_schedule.h"
#include "qres/optim/step_math.h"
#include "torch/serialize/archive.h"

namespace qres::optim {
namespace {

template <typename T>
void StochasticRoundInto(const T* h, T* out, int64_t n, T scale, uint64_t key) {
  for (int64_t j = 0; j < n; ++j) {
    const T scaled = h[j] * scale;  // rounded to T before the noise is added, as on the GPU
    out[j] = std::floor(scaled + static_cast<T>(UniformFloat(key, static_cast<uint64_t>(j))));
  }
}

// ‖h‖ in the order every device follows (quantizer.h).
double NormInOrder(const float* h, int64_t numel) { return std::sqrt(fused_cpu::SumSquaresInOrder(h, numel)); }
double NormInOrder(const at::Tensor& h) {
  // float64 squares of float32 values are exact, so widening first changes no bit.
  const at::Tensor wide = h.to(at::kCPU, at::kDouble).contiguous();
  return std::sqrt(step_math::SumSquaresInOrder(wide.data_ptr<double>(), wide.numel()));
}

}  // namespace

at::Tensor RoundScaled(const at::Tensor& h, double scale, Rounding rounding, uint64_t stream_key) {
  switch (rounding) {
    case Rounding::kHalfUp:
      return at::mul(h, scale).add_(0.5).floor_();
    case Rounding::kFloor:
      return at::mul(h, scale).floor_();
    case Rounding::kNearestEven:
      return at::mul(h, scale).round_();
    case Rounding::kStochastic: {
      at::Tensor source = h.contiguous();
      at::Tensor out = at::empty_like(source);
      if (source.scalar_type() == at::kFloat) {
        StochasticRoundInto(source.data_ptr<float>(), out.data_ptr<float>(), source.numel(), static_cast<float>(scale),
                            stream_key);
      } else if (source.scalar_type() == at::kDouble) {
        StochasticRoundInto(source.data_ptr<double>(), out.data_ptr<double>(), source.numel(), scale, stream_key);
      } else {
        TORCH_CHECK(false, "stochastic rounding supports float32 and float64 updates, not ", source.scalar_type());
      }
      return out;
    }
  }
  TORCH_CHECK(false, "unknown rounding mode");
}

Quantizer::Quantizer(QuantizerOptions options) : options_(std::move(options)) {
  state_.index = options_.initial_index;
  if (options_.schedule == QuantSchedule::kLog) state_.log_resolution = LogResolution(options_, 0);  // "Initial QP"
}

void Quantizer::CheckHostCurrent(const char* what) const {
  TORCH_CHECK(!device_ahead_, "quantizer: ", what,
              " needs the state the fused CUDA step keeps on the device; read the quantizer through "
              "its optimizer's quantizer(), which imports it");
}

double Quantizer::index() const {
  CheckHostCurrent("index()");
  switch (options_.schedule) {
    case QuantSchedule::kNone:
      return 0.0;
    case QuantSchedule::kLog:
      return std::log2(state_.log_resolution);
    case QuantSchedule::kBump:
      if (options_.scope == IndexScope::kPerTensor && !state_.tensor_indices.empty()) {
        return static_cast<double>(*std::max_element(state_.tensor_indices.begin(), state_.tensor_indices.end()));
      }
      return static_cast<double>(state_.index);
  }
  return 0.0;
}

double Quantizer::resolution() const {
  switch (options_.schedule) {
    case QuantSchedule::kNone:
      return 0.0;
    case QuantSchedule::kLog:
      return state_.log_resolution;
    case QuantSchedule::kBump:
      return BumpResolution(static_cast<int64_t>(index()));
  }
  return 0.0;
}

uint64_t Quantizer::StreamKey(int64_t tensor_id) const {
  return StochasticStreamKey(options_.seed, static_cast<uint64_t>(state_.calls), static_cast<uint64_t>(tensor_id));
}

int64_t Quantizer::tensor_index(int64_t id) const {
  CheckHostCurrent("tensor_index()");
  if (options_.scope == IndexScope::kGlobal) return state_.index;
  const std::vector<int64_t>& indices = state_.tensor_indices;
  return static_cast<size_t>(id) < indices.size() ? indices[id] : options_.initial_index;
}

const std::vector<double>& Quantizer::trend() const {
  CheckHostCurrent("trend()");
  return state_.trend;
}

int64_t& Quantizer::TensorIndex(int64_t id) {
  if (static_cast<size_t>(id) >= state_.tensor_indices.size()) {
    state_.tensor_indices.resize(id + 1, options_.initial_index);
  }
  return state_.tensor_indices[id];
}

bool Quantizer::IsZero(const at::Tensor& update, const at::Tensor& rounded) const {
  // The rounded values of finite h only (step_math::IsFinite): the others take no part.
  const at::Tensor counted = at::where(at::isfinite(update), rounded, 0.0);
  if (options_.zero_test == ZeroTest::kAllZero) return !at::any(counted).item<bool>();
  // Exact: the rounded values are integers, summed as int64 (as the fused CPU path does); one
  // that int64 cannot hold (an overflowed h·Q_p, or |q| >= 2^63) makes the update nonzero, as on
  // every path (step_math::RoundedTotal).
  // Both answers in one copy to the host (one sync when the update is on a GPU); the sum of
  // values that do not fit is meaningless and unused.
  const at::Tensor fits = at::all(at::lt(at::abs(counted), 9223372036854775808.0)).to(at::kLong);
  const at::Tensor both = at::stack({fits, at::sum(counted, at::kLong)}).cpu();
  const int64_t* fits_and_sum = both.data_ptr<int64_t>();
  return fits_and_sum[0] == 1 && fits_and_sum[1] == 0;
}

void Quantizer::QuantizeInPlace(std::vector<at::Tensor>& updates, const std::vector<QuantizeStep>& steps) {
  TORCH_CHECK(updates.size() == steps.size(), "quantizer: ", updates.size(), " updates but ", steps.size(),
              " step descriptions");
  CheckHostCurrent("a step on the host");
  switch (options_.schedule) {
    case QuantSchedule::kNone:
      break;
    case QuantSchedule::kBump:
      QuantizeBump(updates, steps);
      break;
    case QuantSchedule::kLog:
      QuantizeLog(updates, steps);
      break;
  }
  FinishStep();
}

void Quantizer::FinishStep() {
  ++state_.calls;
  state_.trend.push_back(index());
}

void Quantizer::QuantizeAndAdd(float* param, float* update, int64_t numel, const QuantizeStep& step) {
  TORCH_INTERNAL_ASSERT(options_.schedule != QuantSchedule::kNone, "nothing to quantize");
  CheckHostCurrent("a step on the host");
  fused_cpu::RoundedSum rounding;
  rounding.rounding = options_.rounding;
  rounding.stream_key = StreamKey(step.id);
  rounding.count_nonzero = options_.zero_test == ZeroTest::kAllZero;
  if (options_.schedule == QuantSchedule::kBump) {
    int64_t& n = options_.scope == IndexScope::kGlobal ? state_.index : TensorIndex(step.id);
    n = AdvanceIndex(n, options_.index_limit, options_.check_first_step || !step.first, [&](int64_t k) {
      rounding.scale = static_cast<float>(BumpResolution(k));
      // Asked only once the rounded update is zero: whether it was zero before rounding too.
      return step_math::IsZero(fused_cpu::SumRounded(update, numel, rounding)) &&
             (options_.bump_on_zero_update ||
              !std::all_of(update, update + numel, [](float h) { return h == 0.0f || !step_math::IsFinite(h); }));
    });
    rounding.scale = static_cast<float>(BumpResolution(n));
  } else {
    state_.log_resolution = LogResolution(options_, step.step);
    const double factor =
        options_.offset ? OffsetFactor(options_, step.step, step.lambda, NormInOrder(update, numel)) : 0.0;
    if (factor != 0.0) fused_cpu::AddOffset(update, numel, static_cast<float>(factor));
    rounding.scale = static_cast<float>(state_.log_resolution);
  }
  fused_cpu::AddRounded(param, update, numel, rounding);
}

void Quantizer::EndDeviceStep(double last_log_resolution) {
  ++state_.calls;
  if (options_.schedule == QuantSchedule::kBump) {
    device_ahead_ = true;  // the device holds this step's index and trend entry
  } else {
    if (options_.schedule == QuantSchedule::kLog) state_.log_resolution = last_log_resolution;
    state_.trend.push_back(index());
  }
}

void Quantizer::ImportDeviceState(QuantizerState state) {
  state_ = std::move(state);
  device_ahead_ = false;
}

void Quantizer::QuantizeBump(std::vector<at::Tensor>& updates, const std::vector<QuantizeStep>& steps) {
  const int64_t limit = options_.index_limit;
  // The last rounding computed for each tensor is the one its final index keeps.
  std::vector<at::Tensor> rounded(updates.size());
  std::vector<int64_t> rounded_at(updates.size(), INT64_MIN);
  auto round_at = [&](size_t i, int64_t k) -> const at::Tensor& {
    if (rounded_at[i] != k) {
      rounded[i] = RoundScaled(updates[i], BumpResolution(k), options_.rounding, StreamKey(steps[i].id));
      rounded_at[i] = k;
    }
    return rounded[i];
  };
  // Whether each update is zero before rounding, asked once its rounding is zero (on a GPU, a sync).
  std::vector<int> zero_update(updates.size(), -1);
  auto is_zero_update = [&](size_t i) {
    if (zero_update[i] < 0) {  // zero where finite (step_math::IsFinite)
      zero_update[i] = !at::any(at::where(at::isfinite(updates[i]), updates[i], 0.0)).item<bool>();
    }
    return zero_update[i] == 1;
  };
  auto is_zero = [&](size_t i, int64_t k) {
    return IsZero(updates[i], round_at(i, k)) && (options_.bump_on_zero_update || !is_zero_update(i));
  };
  auto checked = [&](size_t i) { return options_.check_first_step || !steps[i].first; };

  std::vector<int64_t> indices(updates.size());
  if (options_.scope == IndexScope::kGlobal) {
    std::vector<bool> check(updates.size());
    for (size_t i = 0; i < updates.size(); ++i) check[i] = checked(i);
    indices = ResolveBumpIndices(state_.index, limit, check, is_zero);
    if (!indices.empty()) state_.index = indices.back();
  } else {
    for (size_t i = 0; i < updates.size(); ++i) {
      int64_t& n = TensorIndex(steps[i].id);
      n = AdvanceIndex(n, limit, checked(i), [&](int64_t k) { return is_zero(i, k); });
      indices[i] = n;
    }
  }
  for (size_t i = 0; i < updates.size(); ++i) {
    updates[i] = round_at(i, indices[i]).div_(BumpResolution(indices[i]));
  }
}

void Quantizer::QuantizeLog(std::vector<at::Tensor>& updates, const std::vector<QuantizeStep>& steps) {
  for (size_t i = 0; i < updates.size(); ++i) {
    const double resolution = LogResolution(options_, steps[i].step);
    at::Tensor shifted = updates[i];
    const double factor =
        options_.offset ? OffsetFactor(options_, steps[i].step, steps[i].lambda, NormInOrder(updates[i])) : 0.0;
    if (factor != 0.0) shifted = updates[i] + at::mul(updates[i], factor);
    updates[i] = RoundScaled(shifted, resolution, options_.rounding, StreamKey(steps[i].id)).div_(resolution);
    state_.log_resolution = resolution;
  }
}

void Quantizer::Save(const QuantizerState& state, torch::serialize::OutputArchive& archive) {
  archive.write("quantizer/index", at::tensor(state.index));
  archive.write("quantizer/tensor_indices", at::tensor(state.tensor_indices, at::kLong));
  archive.write("quantizer/log_resolution", at::tensor(state.log_resolution));
  archive.write("quantizer/calls", at::tensor(state.calls));
  archive.write("quantizer/trend", at::tensor(state.trend, at::kDouble));
}

void Quantizer::Load(torch::serialize::InputArchive& archive) {
  at::Tensor index, tensor_indices, log_resolution, calls, trend;
  archive.read("quantizer/index", index);
  archive.read("quantizer/tensor_indices", tensor_indices);
  archive.read("quantizer/log_resolution", log_resolution);
  archive.read("quantizer/calls", calls);
  archive.read("quantizer/trend", trend);
  QuantizerState state;
  state.index = index.item<int64_t>();
  tensor_indices = tensor_indices.contiguous();
  state.tensor_indices.assign(tensor_indices.data_ptr<int64_t>(),
                              tensor_indices.data_ptr<int64_t>() + tensor_indices.numel());
  state.log_resolution = log_resolution.item<double>();
  state.calls = calls.item<int64_t>();
  trend = trend.contiguous();
  state.trend.assign(trend.data_ptr<double>(), trend.data_ptr<double>() + trend.numel());
  state_ = std::move(state);
  device_ahead_ = false;  // the loaded state is current; a CUDA step starts from it
}

}  // namespace qres::optim
