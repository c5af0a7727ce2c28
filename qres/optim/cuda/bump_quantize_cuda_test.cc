// The CUDA bump quantizer against the CPU one on the same updates: bit-identical quantized
// updates and indices for 100+ steps that include index bumps, for every rounding mode, both zero
// tests and both scopes. Needs a GPU: skipped with a message without one.
#include <vector>

#include "ATen/Context.h"
#include "ATen/TensorOperators.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/zeros.h"
#include "gtest/gtest.h"
#include "qres/optim/quantizer.h"

namespace qres::optim {
namespace {

struct Case {
  Rounding rounding;
  ZeroTest zero_test;
  IndexScope scope;
  bool check_first_step;
};

class BumpQuantizeCudaTest : public ::testing::TestWithParam<Case> {};

TEST_P(BumpQuantizeCudaTest, EqualsTheCpuQuantizerBitForBit) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA GPU here: run with --config=cuda --config=gpu on the GPU machine";
  QuantizerOptions options;
  options.initial_index = 2;
  options.rounding = GetParam().rounding;
  options.zero_test = GetParam().zero_test;
  options.scope = GetParam().scope;
  options.check_first_step = GetParam().check_first_step;
  options.seed = 7;
  Quantizer cpu(options), gpu(options);
  at::manual_seed(3);
  const std::vector<int64_t> sizes = {7, 4099, 1, 33, 20000, 5};
  for (int step = 0; step < 120; ++step) {
    std::vector<at::Tensor> on_cpu, on_gpu;
    std::vector<TensorStep> steps;
    // Updates that shrink over the steps, so the index climbs; tensor 5 is zero every fifth step.
    const double scale = 0.3 / (1 + step);
    for (size_t i = 0; i < sizes.size(); ++i) {
      at::Tensor update = (i == 5 && step % 5 == 0) ? at::zeros({sizes[i]}) : at::randn({sizes[i]}) * scale;
      on_cpu.push_back(update.clone());
      on_gpu.push_back(update.cuda());
      steps.push_back({static_cast<int64_t>(i), step, step == 0, 0.0});
    }
    cpu.QuantizeInPlace(on_cpu, steps);
    gpu.QuantizeInPlace(on_gpu, steps);
    for (size_t i = 0; i < sizes.size(); ++i) {
      ASSERT_TRUE(at::equal(on_cpu[i], on_gpu[i].cpu())) << "tensor " << i << ", step " << step;
    }
    if (step % 10 == 9) {
      ASSERT_EQ(cpu.index(), gpu.index()) << "step " << step;
    }
  }
  EXPECT_EQ(cpu.trend(), gpu.trend());
  EXPECT_GT(cpu.index(), 2);  // the index did climb
}

INSTANTIATE_TEST_SUITE_P(
    Modes, BumpQuantizeCudaTest,
    ::testing::Values(Case{Rounding::kHalfUp, ZeroTest::kSum, IndexScope::kGlobal, true},
                      Case{Rounding::kHalfUp, ZeroTest::kSum, IndexScope::kGlobal, false},
                      Case{Rounding::kFloor, ZeroTest::kSum, IndexScope::kGlobal, true},
                      Case{Rounding::kNearestEven, ZeroTest::kAllZero, IndexScope::kGlobal, true},
                      Case{Rounding::kStochastic, ZeroTest::kSum, IndexScope::kGlobal, true},
                      Case{Rounding::kHalfUp, ZeroTest::kAllZero, IndexScope::kPerTensor, true},
                      Case{Rounding::kStochastic, ZeroTest::kSum, IndexScope::kPerTensor, false}));

}  // namespace
}  // namespace qres::optim
