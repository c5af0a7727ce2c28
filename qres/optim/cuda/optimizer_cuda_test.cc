// The fused CUDA step on a GPU (every rule, schedule, rounding, zero test and scope:
// fused_step_cases.h) against the CPU optimizers on the same gradients: bit-identical parameters
// and index trends over 100 steps that include index bumps. Needs a GPU: skipped with a message
// without one, failed without one when QRES_REQUIRE_GPU is set (the GPU bundle's run.sh sets it).
#include <cstdlib>
#include <string>
#include <vector>

#include "ATen/Context.h"
#include "ATen/TensorOperators.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/round.h"
#include "ATen/ops/zeros.h"
#include "gtest/gtest.h"
#include "qres/optim/cuda/fused_step_cases.h"
#include "qres/optim/optimizer.h"

namespace qres::optim {
namespace {

// Skips every test without a GPU, unless QRES_REQUIRE_GPU is set: a run that was meant to test the
// GPU and did not find one (a driver missing from the library path) must fail, not pass by skipping.
class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (at::hasCUDA()) return;
    if (std::getenv("QRES_REQUIRE_GPU") != nullptr) {
      GTEST_FAIL() << "QRES_REQUIRE_GPU is set but no CUDA GPU is visible (driver, LD_LIBRARY_PATH?)";
    }
    GTEST_SKIP() << "no CUDA GPU here: run with --config=cuda --config=gpu on the GPU machine";
  }
};

class OptimizerCudaTest : public GpuTest, public ::testing::WithParamInterface<FusedStepCase> {};
using OptimizerCudaLogTest = GpuTest;

TEST_P(OptimizerCudaTest, EqualsTheCpuOptimizerBitForBit) {
  // Sizes around the 2048-element chunks, an empty tensor, one of 1221 chunks (four per block of
  // the H200's 304-block grid). 18 cases took 90-117 s on an H200 with 5 M elements, mostly on the
  // CPU side; 2.5 M halves that to fit the GPU bundle's 300 s.
  ExpectSameTrajectory(GetParam(), {7, 4097, 1, 0, 65536, 300, 2048, 2500000}, 100,
                       [](const at::Tensor& t) { return t.cuda(); },
                       [](torch::optim::Optimizer& optimizer) { optimizer.step(); });
}

// The same, small and short: for compute-sanitizer's memcheck, racecheck and synccheck (the GPU
// bundle's run.sh), which slow every kernel down many times.
TEST_P(OptimizerCudaTest, SmallEqualsTheCpuOptimizerBitForBit) {
  ExpectSameTrajectory(GetParam(), {7, 4097, 1, 0, 2048, 300}, 8, [](const at::Tensor& t) { return t.cuda(); },
                       [](torch::optim::Optimizer& optimizer) { optimizer.step(); });
}

// The step must add the quantized updates, not h: parameters that start at 0 stay on the grid
// 1/128 (Q_p is 32, 64 or 128 within 100 steps of 10 per epoch at eta = 64).
TEST_F(OptimizerCudaLogTest, AddsTheQuantizedUpdates) {
  for (const std::string algorithm : {"QtAdamW", "QSGD"}) {
    std::vector<at::Tensor> params = {at::zeros({4099}).cuda().requires_grad_()};
    OptimizerSpec spec;
    spec.lr = 0.05;
    spec.quant_params = "schedule=log,eta=64,rounding=floor";
    spec.batches_per_epoch = 10;
    spec.epochs = 10;
    auto optimizer = OptimizerRegistry::Create(algorithm, params, spec);
    ASSERT_TRUE(optimizer.ok()) << optimizer.status();
    for (int step = 0; step < 100; ++step) {
      params[0].mutable_grad() = at::randn({4099}).cuda();
      (*optimizer)->step();
    }
    const at::Tensor scaled = params[0].detach().cpu() * 128.0;
    EXPECT_TRUE(at::equal(scaled, scaled.round())) << algorithm << ": parameters left the 1/128 grid";
    EXPECT_GT(params[0].detach().abs().sum().item<double>(), 0.0) << algorithm;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, OptimizerCudaTest, ::testing::ValuesIn(FusedStepCases()), FusedStepCaseName);

}  // namespace
}  // namespace qres::optim
