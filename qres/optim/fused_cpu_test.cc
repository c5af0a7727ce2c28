// The fused CPU loops against the foreach ATen path they replace: the same numbers, bit for bit,
// for every optimizer and quantization configuration, over many steps, where ATen runs its vector
// kernels (which fuse a multiply-add as the loops do). Under ATen's scalar kernels
// (ATEN_CPU_CAPABILITY=default: the _aten_default variant, or a CPU ATen gives no vector kernels)
// ATen rounds a multiply-add twice and the loops keep their CPU-independent bits (the golden tests
// hold them to that), so the two agree to the rounding only: see kStepsUlps.
#include "qres/optim/fused_cpu.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "ATen/TensorOperators.h"
#include "ATen/Version.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/randn_like.h"
#include "ATen/ops/zeros_like.h"
#include "c10/core/GradMode.h"
#include "gtest/gtest.h"
#include "qres/optim/optimizer.h"
#include "qres/optim/step_math.h"
#include "torch/optim/sgd.h"

namespace qres::optim {
namespace {

struct Case {
  std::string algorithm, optim_params, quant_params;
};

std::vector<at::Tensor> Train(const Case& c, bool fused) {
  fused_cpu::SetEnabled(fused);
  at::manual_seed(11);
  std::vector<at::Tensor> params;
  for (std::vector<int64_t> shape : {std::vector<int64_t>{7}, {5, 3}, {2, 1, 3, 3}, {1}, {4099}, {4}}) {
    params.push_back(at::randn(shape).requires_grad_());
  }
  OptimizerSpec spec;
  spec.lr = c.algorithm.find("SGD") != std::string::npos ? 0.05 : 0.01;
  spec.qp = 2;
  spec.optim_params = c.optim_params;
  spec.quant_params = c.quant_params;
  spec.batches_per_epoch = 10;
  spec.epochs = 10;
  auto optimizer = OptimizerRegistry::Create(c.algorithm, params, spec);
  EXPECT_TRUE(optimizer.ok()) << optimizer.status();
  for (int step = 0; step < 40; ++step) {
    // Without a graph: a gradient whose graph leads back to its own parameter is a reference cycle.
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) {
      params[i].mutable_grad() =
          i + 1 == params.size() ? at::zeros_like(params[i]) : at::randn_like(params[i]) * 0.1 + params[i] * 0.5;
    }
    (*optimizer)->step();
  }
  fused_cpu::SetEnabled(true);
  return params;
}

constexpr int kSteps = 40;  // Train's

// Under ATen's scalar kernels each element of a step's result is at most one rounding apart
// between the paths (a multiply-add rounded once or twice: 1 ulp of the result), and Train's
// iteration does not amplify a difference (the step shrinks the parameter: lr x 0.5 < 1, and Adam's
// update is lr-sized, far below an ulp of the parameter), so after kSteps steps the paths differ by
// at most kSteps ulps of the tensor's largest magnitude. The quantized updates themselves round
// alike here (a flip would cost a whole quantum and fail this bound).
constexpr double kStepsUlps = kSteps * 1.1920928955078125e-07;  // kSteps x 2^-23

bool AtenRunsScalarKernels() { return at::get_cpu_capability() == "DEFAULT"; }

class FusedCpuTest : public ::testing::TestWithParam<Case> {};

TEST_P(FusedCpuTest, EqualsTheAtenPath) {
  if (!fused_cpu::Available()) GTEST_SKIP() << "this CPU has no AVX2/FMA: the fused path is off";
  const std::vector<at::Tensor> fused = Train(GetParam(), true);
  const std::vector<at::Tensor> aten = Train(GetParam(), false);
  for (size_t i = 0; i < fused.size(); ++i) {
    const double difference = (fused[i] - aten[i]).abs().max().item<double>();
    const std::string where = "tensor " + std::to_string(i) + ": max |difference| " + std::to_string(difference) +
                              " at " + std::to_string((fused[i] - aten[i]).abs().argmax().item<int64_t>());
    if (AtenRunsScalarKernels()) {
      EXPECT_LE(difference, kStepsUlps * std::max(1.0, aten[i].abs().max().item<double>())) << where;
    } else {
      EXPECT_TRUE(at::equal(fused[i], aten[i])) << where;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Configurations, FusedCpuTest,
    ::testing::Values(Case{"SGD", "", ""}, Case{"SGD", "momentum=0.9,nesterov=true,weight_decay=0.01", ""},
                      Case{"SGD", "momentum=0.8,dampening=0.2", ""}, Case{"QSGD", "", ""},
                      Case{"QSGD", "momentum=0.9,weight_decay=0.01", "rounding=stochastic,seed=4"},
                      Case{"AdamW", "", ""}, Case{"AdamW", "weight_decay=0.05", ""},
                      Case{"QtAdam", "weight_decay=0.01", ""}, Case{"QtAdamW", "weight_decay=0.01", ""},
                      Case{"QtAdamW", "", "rounding=floor,scope=per_tensor,zero_test=all_zero"},
                      Case{"QtAdamW", "", "rounding=nearest_even,check_first_step=false"},
                      Case{"QtAdamW", "", "schedule=log,rounding=floor,eta=64"},
                      Case{"QtAdamW", "", "schedule=log,eta=4096,base=3,warmup=0.5"},
                      Case{"QSGD", "", "schedule=log,rounding=stochastic,eta=256"}),
    [](const auto& info) { return "case" + std::to_string(info.index) + "_" + info.param.algorithm; });

// The parallel norm (chunk partials on several threads) must give the fixed order's bits.
TEST(StepPathTest, ReportsWhereTheStepRuns) {
  const StepPath fused = fused_cpu::Available() ? StepPath::kFusedCpu : StepPath::kAten;
  const std::vector<at::Tensor> floats = {at::randn({3}).requires_grad_()};
  const auto path_of = [](const std::string& algorithm, const std::vector<at::Tensor>& params) {
    auto optimizer = OptimizerRegistry::Create(algorithm, params, OptimizerSpec{});
    EXPECT_TRUE(optimizer.ok()) << optimizer.status();
    return StepPathOf(**optimizer);
  };
  EXPECT_EQ(path_of("QtAdamW", floats), fused);
  EXPECT_EQ(path_of("SGD", floats), fused);
  EXPECT_EQ(path_of("Adam", floats), StepPath::kAten);  // torch form: not fused
  EXPECT_EQ(path_of("QSGD", {at::randn({3}, at::kDouble).requires_grad_()}), StepPath::kAten);
  fused_cpu::SetEnabled(false);
  EXPECT_EQ(path_of("QtAdamW", floats), StepPath::kAten);
  fused_cpu::SetEnabled(true);
  torch::optim::SGD torch_sgd(floats, torch::optim::SGDOptions(0.1));
  EXPECT_EQ(StepPathOf(torch_sgd), std::nullopt);
  EXPECT_EQ(ToString(StepPath::kFusedCuda), "fused CUDA step");
}

TEST(FusedCpuNormTest, EqualsTheSequentialOrder) {
  if (!fused_cpu::Available()) GTEST_SKIP() << "this CPU lacks AVX2/FMA";
  for (int64_t numel : {0, 1, 2047, 2049, 300000, 1000003}) {
    const at::Tensor h = at::randn({numel}) * 1e-3;
    const float* data = h.data_ptr<float>();
    EXPECT_EQ(fused_cpu::SumSquaresInOrder(data, numel), step_math::SumSquaresInOrder(data, numel)) << numel;
  }
}

}  // namespace
}  // namespace qres::optim
