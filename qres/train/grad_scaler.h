// Dynamic loss scaling for fp16 training, as torch.amp.GradScaler does it: the loss is multiplied
// by a scale before backward, so small fp16 gradients do not flush to zero; the gradients are then
// divided by it, and a step whose gradients hold an inf or NaN is skipped (weights, optimizer state
// and the quantizer's index and step count unchanged) while the scale backs off; after
// `growth_interval` good steps in a row it grows.
//
//   GradScaler scaler(device);
//   ranks->Backward(scaler.Scale(loss), ...);
//   if (scaler.UnscaleAndCheck(params)) optimizer.step();  // false: inf or NaN, the step is skipped
//   scaler.Update();
#ifndef QRES_TRAIN_GRAD_SCALER_H_
#define QRES_TRAIN_GRAD_SCALER_H_

#include <cstdint>
#include <vector>

#include "ATen/core/Tensor.h"
#include "c10/core/Device.h"

namespace qres::train {

class GradScaler {
 public:
  // torch.amp.GradScaler's defaults.
  explicit GradScaler(const c10::Device& device, double initial_scale = 65536.0, double growth_factor = 2.0,
                      double backoff_factor = 0.5, int64_t growth_interval = 2000);

  // `loss` times the current scale.
  at::Tensor Scale(const at::Tensor& loss) const;
  // Divides the gradients of `params` (those that have one) by the scale in place and says whether
  // all are finite. One read of a flag from the device: the decision to step is the host's.
  bool UnscaleAndCheck(const std::vector<at::Tensor>& params);
  // After the step or its skip: backs off after a skip, grows after growth_interval good steps.
  void Update();

  // The state a checkpoint keeps: the scale and the good steps since it last changed.
  double scale() const;
  int64_t growth_tracker() const;
  void Restore(double scale, int64_t growth_tracker);

 private:
  double growth_factor_, backoff_factor_;
  int64_t growth_interval_;
  at::Tensor scale_;           // float32 [1], on the device
  at::Tensor growth_tracker_;  // int32 [1]
  at::Tensor found_inf_;       // float32 [1]: 1 where this step's gradients were not finite
};

}  // namespace qres::train

#endif  // QRES_TRAIN_GRAD_SCALER_H_
