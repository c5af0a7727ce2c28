// Quantization of optimizer updates (algorithm.md §1): w <- w + [h]_Q, with a resolution Q_p that
// only ever increases.
//
//   QRES_ASSIGN_OR_RETURN(QuantizerOptions options, QuantizerOptions::FromParams(params, defaults));
//   Quantizer quantizer(options);
//   quantizer.QuantizeInPlace(updates, steps);   // once per optimizer step, all tensors at once
//   quantizer.index();                            // "QP Index" for the logs
//
// Schedules (their rules: quant_schedule.h):
//   bump (2021, default): Q_p = 2^max(n, 0); n starts at `initial_index` (the seed's -qp). While a
//        tensor's quantized update is "zero" and n <= index_limit, n += 1 and the update is
//        re-quantized. n is shared by all tensors (scope=global) or kept per tensor (per_tensor).
//        An update that is zero before rounding (an lr of 0, a tensor without gradient) bumps
//        nothing; bump_on_zero_update=true keeps the reference's rule, which raises n to the limit.
//   log  (2023): Q_p = eta * base^floor(log_base(ln(t_e + 2))), t_e = step / batches_per_epoch,
//        plus the warm-up offset r = ½(1 + tanh(-kappa (t_e - epochs·warmup))) λ h / ‖h‖.
//        ‖h‖ is summed in float64 in a fixed order (step_math::SumSquaresInOrder) that the GPU
//        follows too; the reference's float32 norm differs from it in the last bits.
//   none: updates pass through unchanged.
// Rounding of Q_p·h to an integer: half_up (floor(x + ½), the paper's), floor (G2's default path),
// nearest_even, stochastic (floor(x + u), u from a counter-based generator: reproducible).
//
// The bump decision is exact and device independent: the "sum" zero test sums the rounded
// integers exactly (as int64) rather than the float32 quantized values the reference sums; the two
// agree whenever the float32 sum is exact. A rounded value int64 cannot hold (an h·Q_p that
// overflows, or |q| >= 2^63) makes the update nonzero (step_math::RoundedTotal): the index holds.
// Non-finite elements of h (NaN, ±inf) take no part in the zero tests, the zero-update test or the
// log schedule's norm: the rest of their tensor trains on, and they stay non-finite where they are,
// as in torch.optim (algorithm.md Q3; the reference's NaN sum would freeze the tensor's index).
#ifndef QRES_OPTIM_QUANTIZER_H_
#define QRES_OPTIM_QUANTIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qres/optim/fused_cpu.h"
#include "qres/optim/quant_schedule.h"
#include "qres/optim/quantizer_options.h"
#include "qres/optim/tensor_step.h"

namespace torch::serialize {
class InputArchive;
class OutputArchive;
}  // namespace torch::serialize

namespace qres::optim {

// R(scale · h) as an integer-valued float tensor (a new tensor; h is not modified).
at::Tensor RoundScaled(const at::Tensor& h, double scale, Rounding rounding, uint64_t stream_key);

// The quantizer's state between steps: what a checkpoint keeps, and what a fused CUDA step hands
// back after keeping the bump index on the device (Quantizer::ImportDeviceState).
struct QuantizerState {
  int64_t index = 0;                    // bump, global scope
  std::vector<int64_t> tensor_indices;  // bump, per_tensor scope (by QuantizeStep::id)
  double log_resolution = 0.0;          // log: Q_p of the last tensor
  int64_t calls = 0;                    // quantized steps: the stochastic streams' step counter
  std::vector<double> trend;            // index() after each quantized step
};

class Quantizer {
 public:
  explicit Quantizer(QuantizerOptions options);

  // Replaces updates[i] by its quantized value. `steps[i]` describes updates[i]. One call per
  // optimizer step; it appends one entry to trend().
  void QuantizeInPlace(std::vector<at::Tensor>& updates, const std::vector<QuantizeStep>& steps);

  // The fused CPU path (float32): param += [update]_Q for one tensor, in parameter order, with the
  // same numbers as QuantizeInPlace; `update` may be overwritten. Call FinishStep() once after the
  // step's last tensor.
  void QuantizeAndAdd(float* param, float* update, int64_t numel, const QuantizeStep& step);
  void FinishStep();

  // A fused CUDA step quantizes on the device (cuda_stepper.h) and keeps the bump schedule's
  // index and trend there between steps, so a step never waits for the GPU. BeginDeviceStep
  // returns the step's call number (the stochastic streams' counter) and whether the device must
  // start from the host's state; EndDeviceStep counts the step (log schedule: with Q_p of the last
  // tensor quantized). After a bump step the device is ahead: the state getters below refuse
  // (c10::Error) until ImportDeviceState brings the device's state back, which the optimizer's
  // quantizer() does.
  struct DeviceStep {
    uint64_t call;
    bool start_from_host;
  };
  DeviceStep BeginDeviceStep() const { return {static_cast<uint64_t>(state_.calls), !device_ahead_}; }
  void EndDeviceStep(double last_log_resolution);
  bool device_ahead() const { return device_ahead_; }
  void ImportDeviceState(QuantizerState state);

  const QuantizerOptions& options() const { return options_; }
  // The state as of the last step the host knows of (device_ahead(): not the latest).
  const QuantizerState& state() const { return state_; }
  // The reported index: bump: n (the largest over tensors for per_tensor scope); log: log2(Q_p)
  // of the last quantized tensor; none: 0.
  double index() const;
  // Bump: the index n of tensor `id` (QuantizeStep::id): its own with scope=per_tensor (the
  // initial index before its first step), else the shared one.
  int64_t tensor_index(int64_t id) const;
  // The current resolution Q_p (the quantization step is 1/Q_p).
  double resolution() const;
  // index() after every quantized step, one entry per optimizer step.
  const std::vector<double>& trend() const;

  // A checkpoint's quantizer entries: `state` (the device's, if it is ahead) written, or read
  // back (the host is then current).
  static void Save(const QuantizerState& state, torch::serialize::OutputArchive& archive);
  void Load(torch::serialize::InputArchive& archive);

 private:
  void QuantizeBump(std::vector<at::Tensor>& updates, const std::vector<QuantizeStep>& steps);
  void QuantizeLog(std::vector<at::Tensor>& updates, const std::vector<QuantizeStep>& steps);
  // Whether `rounded` (R(Q_p·update)) is zero for the zero test, over update's finite elements.
  bool IsZero(const at::Tensor& update, const at::Tensor& rounded) const;
  uint64_t StreamKey(int64_t tensor_id) const;
  int64_t& TensorIndex(int64_t id);
  // Throws when the device holds steps the host has not seen (`what`: the caller, for the message).
  void CheckHostCurrent(const char* what) const;

  QuantizerOptions options_;
  QuantizerState state_;
  bool device_ahead_ = false;  // fused CUDA steps left newer bump state on the device
};

}  // namespace qres::optim

#endif  // QRES_OPTIM_QUANTIZER_H_
