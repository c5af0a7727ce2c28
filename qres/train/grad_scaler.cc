#include "qres/train/grad_scaler.h"

#include "ATen/ops/_amp_foreach_non_finite_check_and_unscale.h"
#include "ATen/ops/_amp_update_scale.h"
#include "ATen/ops/full.h"
#include "ATen/ops/mul.h"
#include "ATen/ops/reciprocal.h"
#include "ATen/ops/zeros.h"

namespace qres::train {

GradScaler::GradScaler(const c10::Device& device, double initial_scale, double growth_factor, double backoff_factor,
                       int64_t growth_interval)
    : growth_factor_(growth_factor), backoff_factor_(backoff_factor), growth_interval_(growth_interval) {
  const auto floats = at::TensorOptions().dtype(at::kFloat).device(device);
  scale_ = at::full({1}, initial_scale, floats);
  growth_tracker_ = at::zeros({1}, at::TensorOptions().dtype(at::kInt).device(device));
  found_inf_ = at::zeros({1}, floats);
}

at::Tensor GradScaler::Scale(const at::Tensor& loss) const {
  return at::mul(loss, scale_.reshape({}).to(loss.scalar_type()));
}

bool GradScaler::UnscaleAndCheck(const std::vector<at::Tensor>& params) {
  found_inf_.zero_();
  std::vector<at::Tensor> grads;
  for (const at::Tensor& param : params) {
    if (param.grad().defined()) grads.push_back(param.grad());
  }
  if (!grads.empty()) at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, at::reciprocal(scale_));
  return found_inf_.item<float>() == 0.0f;
}

void GradScaler::Update() {
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, growth_factor_, backoff_factor_, growth_interval_);
}

double GradScaler::scale() const { return scale_.item<double>(); }

int64_t GradScaler::growth_tracker() const { return growth_tracker_.item<int64_t>(); }

void GradScaler::Restore(double scale, int64_t growth_tracker) {
  scale_.fill_(scale);
  growth_tracker_.fill_(growth_tracker);
}

}  // namespace qres::train
