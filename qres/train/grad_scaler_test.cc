// The loss scaler's rule, on the CPU (the fp16 training it serves runs on GPUs): unscaled
// gradients, a skipped step on inf or NaN with the scale backing off, growth after the interval.
#include "qres/train/grad_scaler.h"

#include <limits>

#include "ATen/ops/ones.h"
#include "ATen/ops/tensor.h"
#include "ATen/ops/zeros.h"
#include "ATen/ops/zeros_like.h"
#include "gtest/gtest.h"

namespace qres::train {
namespace {

// A parameter whose gradient is `grad`.
at::Tensor WithGrad(const at::Tensor& grad) {
  at::Tensor param = at::zeros_like(grad);
  param.mutable_grad() = grad;
  return param;
}

TEST(GradScalerTest, UnscalesSkipsOnInfAndNaNBacksOffAndGrows) {
  GradScaler scaler(c10::kCPU, /*initial_scale=*/1024.0, /*growth_factor=*/2.0, /*backoff_factor=*/0.5,
                    /*growth_interval=*/3);
  EXPECT_EQ(scaler.Scale(at::ones({})).item<float>(), 1024.0f);
  at::Tensor grad = at::tensor({2048.0f, -512.0f});
  ASSERT_TRUE(scaler.UnscaleAndCheck({WithGrad(grad), at::zeros({2})}));  // a parameter without gradient is skipped
  EXPECT_EQ(grad[0].item<float>(), 2.0f);
  EXPECT_EQ(grad[1].item<float>(), -0.5f);
  scaler.Update();
  EXPECT_EQ(scaler.scale(), 1024.0);
  EXPECT_EQ(scaler.growth_tracker(), 1);
  for (const float bad : {std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN()}) {
    at::Tensor overflowed = at::tensor({1.0f, bad});
    EXPECT_FALSE(scaler.UnscaleAndCheck({WithGrad(overflowed)})) << bad;
    scaler.Update();
  }
  EXPECT_EQ(scaler.scale(), 256.0);  // backed off twice
  EXPECT_EQ(scaler.growth_tracker(), 0);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(scaler.UnscaleAndCheck({WithGrad(at::tensor({1.0f}))}));
    scaler.Update();
  }
  EXPECT_EQ(scaler.scale(), 512.0);  // grown after 3 good steps
  scaler.Restore(8.0, 2);
  EXPECT_EQ(scaler.scale(), 8.0);
  EXPECT_EQ(scaler.growth_tracker(), 2);
}

}  // namespace
}  // namespace qres::train
