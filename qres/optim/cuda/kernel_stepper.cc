#include "qres/optim/cuda/kernel_stepper.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "ATen/ops/cat.h"
#include "ATen/ops/empty.h"
#include "ATen/ops/full.h"
#include "ATen/ops/tensor.h"
#include "ATen/ops/zeros.h"

namespace qres::optim {

at::Tensor& GrowToAtLeast(at::Tensor& buffer, int64_t numel, at::ScalarType type, c10::Device device, bool zeroed) {
  if (!buffer.defined() || buffer.numel() < numel || buffer.device() != device) {
    const auto options = at::TensorOptions().dtype(type).device(device);
    const int64_t size = std::max<int64_t>(numel, 1);
    buffer = zeroed ? at::zeros({size}, options) : at::empty({size}, options);
  }
  return buffer;
}

void KernelStepper::Step(step_math::StepRule rule, c10::Device device, const std::vector<TensorStep>& tensors,
                         Quantizer* quantizer) {
  backend_->BeginStep(device);
  const QuantSchedule schedule = quantizer != nullptr ? quantizer->options().schedule : QuantSchedule::kNone;
  const bool quantized = schedule != QuantSchedule::kNone;

  int64_t total_numel = 0, total_chunks = 0;
  for (const TensorStep& t : tensors) total_numel += t.numel;
  if (quantized) GrowToAtLeast(update_, total_numel, at::kFloat, device, /*zeroed=*/false);

  rows_.resize(tensors.size());
  double last_log_resolution = 0.0, offset_scale = 0.0;  // of the last row's step
  bool any_log_offset = false;
  int64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorStep& t = tensors[i];
    cuda::StepRow& row = rows_[i];
    std::memset(&row, 0, sizeof(row));  // padding too: rows are compared bytewise below
    row.param = t.param;
    row.grad = t.grad;
    row.state0 = t.state0;
    row.state1 = t.state1;
    row.update = quantized ? update_.data_ptr<float>() + offset : nullptr;
    row.numel = t.numel;
    row.first_chunk = total_chunks;
    row.id = t.quantize.id;
    row.adam = t.adam;
    row.sgd.weight_decay = t.sgd.weight_decay;  // member by member: no padding bytes copied
    row.sgd.momentum = t.sgd.momentum;
    row.sgd.one_minus_dampening = t.sgd.one_minus_dampening;
    row.sgd.nesterov = t.sgd.nesterov;
    row.coupled_l2 = t.coupled_l2;
    row.step.first = t.first_buffer;
    row.step.neg_step = t.neg_step;
    row.step.decay = t.decay;
    if (quantized) {
      const QuantizeStep& step = t.quantize;
      row.step.checked = quantizer->options().check_first_step || !step.first;
      if (schedule == QuantSchedule::kLog) {
        if (i == 0 || step.step != tensors[i - 1].quantize.step ||
            step.lambda != tensors[i - 1].quantize.lambda) {  // usually once per step
          last_log_resolution = LogResolution(quantizer->options(), step.step);
          offset_scale = OffsetScale(quantizer->options(), step.step, step.lambda);
        }
        row.step.log_scale = static_cast<float>(last_log_resolution);
        row.step.offset_scale = offset_scale;
        any_log_offset |= offset_scale != 0.0;
      }
    }
    offset += row.numel;
    total_chunks += (row.numel + cuda::kChunk - 1) / cuda::kChunk;
  }
  cuda::StepLaunch launch;
  std::memset(&launch, 0, sizeof(launch));  // padding too: graph mode compares launches bytewise
  MoveStepsToVariants(launch);
  const bool moved = uploaded_to_ != device;
  if (rows_on_device_ == nullptr || moved || uploaded_.size() != rows_.size() ||
      std::memcmp(uploaded_.data(), rows_.data(), rows_.size() * sizeof(cuda::StepRow)) != 0) {
    rows_on_device_ = static_cast<const cuda::StepRow*>(
        backend_->Upload(Backend::Buffer::kRows, rows_.data(), rows_.size() * sizeof(cuda::StepRow), device));
    // The block-to-row map follows the tensors' sizes only, which the last rows uploaded still hold.
    bool same_sizes = block_rows_on_device_ != nullptr && !moved && uploaded_.size() == rows_.size();
    for (size_t i = 0; same_sizes && i < rows_.size(); ++i) same_sizes = uploaded_[i].numel == rows_[i].numel;
    if (!same_sizes) {
      std::vector<int32_t> block_rows;
      for (size_t i = 0; i < rows_.size(); ++i) {
        block_rows.insert(block_rows.end(), (rows_[i].numel + cuda::kChunk - 1) / cuda::kChunk,
                          static_cast<int32_t>(i));
      }
      block_rows_on_device_ = static_cast<const int32_t*>(backend_->Upload(
          Backend::Buffer::kBlockRows, block_rows.data(), block_rows.size() * sizeof(int32_t), device));
    }
    uploaded_ = rows_;
    uploaded_to_ = device;
  }

  launch.rows = rows_on_device_;
  launch.block_rows = block_rows_on_device_;
  launch.num_rows = static_cast<int64_t>(rows_.size());
  launch.total_chunks = total_chunks;
  launch.rule = rule;
  launch.schedule = schedule;
  if (quantized) {
    const Quantizer::DeviceStep step = quantizer->BeginDeviceStep();
    const QuantizerOptions& options = quantizer->options();
    launch.rounding = options.rounding;
    launch.seed = options.seed;
    launch.values.call = step.call;
    if (schedule == QuantSchedule::kBump) {
      PrepareBump(*quantizer, step.start_from_host, launch, device);
    } else {
      launch.log_offset = any_log_offset;
      launch.partials = GrowToAtLeast(partials_, total_chunks, at::kDouble, device, false).data_ptr<double>();
      launch.factors = GrowToAtLeast(factors_, launch.num_rows, at::kDouble, device, false).data_ptr<double>();
    }
  }
  launch.blocks_done = reinterpret_cast<unsigned*>(
      GrowToAtLeast(blocks_done_, 1, at::kInt, device, /*zeroed=*/true).data_ptr<int32_t>());
  if (graph_mode_) {  // the values through device memory: the arguments stay the same
    launch.device_values = static_cast<const cuda::StepValues*>(
        backend_->Upload(Backend::Buffer::kValues, &launch.values, sizeof(launch.values), device));
    std::memset(&launch.values, 0, sizeof(launch.values));
    pending_ = launch;
    pending_device_ = device;
  } else {
    backend_->Launch(launch, device);
  }
  if (schedule == QuantSchedule::kBump) ++bump_.trend_size;  // the resolve kernel writes this step's entry
  if (quantized) quantizer->EndDeviceStep(last_log_resolution);
}

void KernelStepper::SetGraphMode(bool on) {
  graph_mode_ = on;
  pending_.reset();
}

void KernelStepper::LaunchPending() {
  if (pending_.has_value()) backend_->Launch(*pending_, pending_device_);
}

std::string KernelStepper::PendingLaunchKey() const {
  if (!pending_.has_value()) return std::string();
  return std::string(reinterpret_cast<const char*>(&*pending_), sizeof(cuda::StepLaunch));
}

QuantizerState KernelStepper::DeviceState(const Quantizer& quantizer) const {
  QuantizerState state = quantizer.state();
  if (!quantizer.device_ahead()) return state;
  state.index = bump_.index.item<int64_t>();  // waits for the step that wrote it
  const at::Tensor indices = bump_.tensor_indices.cpu().contiguous();
  state.tensor_indices.assign(indices.data_ptr<int64_t>(), indices.data_ptr<int64_t>() + indices.numel());
  const at::Tensor trend = bump_.trend.slice(0, 0, bump_.trend_size).cpu().contiguous();
  state.trend.insert(state.trend.end(), trend.data_ptr<double>(), trend.data_ptr<double>() + trend.numel());
  return state;
}

void KernelStepper::ExportTo(Quantizer& quantizer) {
  if (!quantizer.device_ahead()) return;
  quantizer.ImportDeviceState(DeviceState(quantizer));
  bump_.trend_size = 0;
}

// Fields are set one by one over zeroed rows, so equal values mean equal bytes. Variants are
// numbered in order of first appearance, so the same pattern of values (per group, or a tensor
// that once sat out) names them alike at every step.
void KernelStepper::MoveStepsToVariants(cuda::StepLaunch& launch) {
  int32_t count = 0;
  for (cuda::StepRow& row : rows_) {
    int32_t v = 0;
    while (v < count && std::memcmp(&row.step, &launch.values.variants[v], sizeof(row.step)) != 0) ++v;
    if (v == count) {
      if (count == cuda::kStepVariants) {  // too many: every row keeps its own in the table
        for (cuda::StepRow& each : rows_) each.variant = 0;
        launch.num_variants = 0;
        std::memset(launch.values.variants, 0, sizeof(launch.values.variants));
        return;
      }
      launch.values.variants[count++] = row.step;
    }
    row.variant = v;
  }
  launch.num_variants = count;
  for (cuda::StepRow& row : rows_) std::memset(&row.step, 0, sizeof(row.step));
}

void KernelStepper::PrepareBump(const Quantizer& quantizer, bool start_from_host, cuda::StepLaunch& launch,
                                c10::Device device) {
  const QuantizerOptions& options = quantizer.options();
  DeviceBumpState& state = bump_;
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  if (start_from_host) {  // the host's state is the current one (a first step, a load, an import)
    // Into the same device buffers where they fit, so that a launch's arguments stay the same
    // (graph mode).
    const QuantizerState& host = quantizer.state();
    if (!state.index.defined() || state.index.device() != device) state.index = at::empty({1}, longs);
    state.index.fill_(host.index);
    const int64_t count = static_cast<int64_t>(host.tensor_indices.size());
    if (!state.tensor_indices.defined() || state.tensor_indices.device() != device ||
        state.tensor_indices.numel() != count) {
      state.tensor_indices = at::empty({count}, longs);
    }
    if (count > 0) state.tensor_indices.copy_(at::tensor(host.tensor_indices, at::kLong));
    state.trend_size = 0;
  }
  int64_t max_id = 0;
  for (const cuda::StepRow& row : rows_) max_id = std::max(max_id, row.id);
  if (state.tensor_indices.numel() <= max_id) {  // new tensors start at the initial index
    const at::Tensor grown = at::full({max_id + 1 - state.tensor_indices.numel()}, options.initial_index, longs);
    state.tensor_indices = at::cat({state.tensor_indices, grown});
  }
  if (!state.trend.defined() || state.trend_size >= state.trend.numel()) {
    const at::Tensor grown =
        at::empty({std::max<int64_t>(1024, state.trend_size)}, at::TensorOptions().dtype(at::kDouble).device(device));
    state.trend = state.trend.defined() ? at::cat({state.trend.slice(0, 0, state.trend_size), grown}) : grown;
  }
  launch.count_nonzero = options.zero_test == ZeroTest::kAllZero;
  launch.global_scope = options.scope == IndexScope::kGlobal;
  launch.limit = options.index_limit;
  launch.bump_on_zero_update = options.bump_on_zero_update;
  // The sums, the unfit counts and the nonzero-update counts: all zero between steps.
  const int64_t slots = launch.num_rows * cuda::kCandidates;
  int64_t* tables =
      GrowToAtLeast(table_, 2 * slots + launch.num_rows, at::kLong, device, /*zeroed=*/true).data_ptr<int64_t>();
  launch.table = reinterpret_cast<long long*>(tables);
  launch.unfit = reinterpret_cast<unsigned long long*>(tables + slots);
  launch.nonzero_updates = reinterpret_cast<unsigned long long*>(tables + 2 * slots);
  launch.global_index = state.index.data_ptr<int64_t>();
  launch.tensor_index = state.tensor_indices.data_ptr<int64_t>();
  launch.tensor_index_size = state.tensor_indices.numel();
  launch.chosen = GrowToAtLeast(chosen_, launch.num_rows, at::kLong, device, false).data_ptr<int64_t>();
  launch.trend = state.trend.data_ptr<double>();
  launch.values.trend_index = state.trend_size;
}

}  // namespace qres::optim
