#include "qres/optim/quantizer.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "ATen/ops/equal.h"
#include "ATen/ops/full.h"
#include "ATen/ops/mean.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/tensor.h"
#include "ATen/ops/zeros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::optim {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

QuantizerOptions Bump(int64_t qp) {
  QuantizerOptions options;
  options.initial_index = qp;
  return options;
}

TEST(ResolveBumpIndicesTest, FollowsTheSequentialRule) {
  // zero[i][k]: tensor i's update quantizes to zero at index k.
  const std::vector<std::vector<bool>> zero = {
      {true, true, false, false, false, false},    // nonzero from k = 2
      {true, true, true, true, false, false},      // nonzero from k = 4
      {false, false, false, false, false, false},  // never zero: keeps the index
      {true, true, true, true, true, true},        // always zero: runs to limit + 1
  };
  auto is_zero = [&](size_t i, int64_t k) { return zero[i][k]; };
  EXPECT_THAT(ResolveBumpIndices(0, 4, {true, true, true, true}, is_zero), ElementsAre(2, 4, 4, 5));
  // An unchecked tensor keeps the index of the one before it.
  EXPECT_THAT(ResolveBumpIndices(0, 4, {true, false, true, true}, is_zero), ElementsAre(2, 2, 2, 5));
}

TEST(ResolveBumpIndicesTest, LazyScanEqualsFullTable) {
  // The GPU computes every candidate index at once; the CPU asks lazily. Same answer.
  std::mt19937 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t limit = 8;
    const size_t tensors = 1 + rng() % 6;
    std::vector<std::vector<bool>> table(tensors, std::vector<bool>(limit + 2));
    std::vector<bool> checked(tensors);
    for (size_t i = 0; i < tensors; ++i) {
      checked[i] = rng() % 4 != 0;
      for (auto&& cell : table[i]) cell = rng() % 3 != 0;
    }
    const int64_t start = rng() % 5;
    std::vector<int64_t> expected(tensors);
    int64_t n = start;
    for (size_t i = 0; i < tensors; ++i) {  // the reference's loop, verbatim
      if (checked[i]) {
        while (table[i][n] && n <= limit) ++n;
      }
      expected[i] = n;
    }
    std::vector<std::pair<size_t, int64_t>> asked;
    auto lookup = [&](size_t i, int64_t k) {
      asked.emplace_back(i, k);
      return static_cast<bool>(table[i][k]);
    };
    EXPECT_EQ(ResolveBumpIndices(start, limit, checked, lookup), expected);
    EXPECT_LE(asked.size(), tensors + (limit + 1 - start) + 1);
  }
}

TEST(QuantizerTest, BumpsUntilTheUpdateIsNonzero) {
  Quantizer quantizer(Bump(2));  // step 0.25
  std::vector<at::Tensor> updates = {at::tensor({0.01f, -0.003f, 0.02f})};
  quantizer.QuantizeInPlace(updates, {{0, 1, false, 0.0}});
  // 2^4 · 0.02 = 0.32 rounds to 0; 2^5 · 0.02 = 0.64 rounds to 1: the index stops at 5.
  EXPECT_EQ(quantizer.index(), 5);
  EXPECT_TRUE(at::equal(updates[0], at::tensor({0.0f, 0.0f, 1.0f / 32})));
  EXPECT_THAT(quantizer.trend(), ElementsAre(5.0));
}

// A fused CUDA step keeps the bump state on the device: the host's getters refuse to answer
// with a stale index until the device's state is imported.
TEST(QuantizerTest, DeviceStepsHoldTheStateUntilImported) {
  Quantizer quantizer(Bump(2));
  EXPECT_TRUE(quantizer.BeginDeviceStep().start_from_host);
  quantizer.EndDeviceStep(0.0);
  EXPECT_TRUE(quantizer.device_ahead());
  EXPECT_FALSE(quantizer.BeginDeviceStep().start_from_host);
  EXPECT_EQ(quantizer.BeginDeviceStep().call, 1u);
  EXPECT_THROW(quantizer.index(), c10::Error);
  EXPECT_THROW(quantizer.trend(), c10::Error);
  std::vector<at::Tensor> updates = {at::tensor({0.5f})};
  EXPECT_THROW(quantizer.QuantizeInPlace(updates, {{0, 1, false, 0.0}}), c10::Error);

  QuantizerState device = quantizer.state();
  device.index = 6;
  device.trend = {6.0};
  quantizer.ImportDeviceState(device);
  EXPECT_FALSE(quantizer.device_ahead());
  EXPECT_EQ(quantizer.index(), 6);
  EXPECT_THAT(quantizer.trend(), ElementsAre(6.0));
  EXPECT_TRUE(quantizer.BeginDeviceStep().start_from_host);
}

TEST(QuantizerTest, TensorIndexIsPerTensorOrShared) {
  QuantizerOptions options = Bump(2);
  options.scope = IndexScope::kPerTensor;
  Quantizer per_tensor(options);
  std::vector<at::Tensor> updates = {at::tensor({0.02f}), at::tensor({0.5f})};
  per_tensor.QuantizeInPlace(updates, {{0, 1, false, 0.0}, {1, 1, false, 0.0}});
  EXPECT_EQ(per_tensor.tensor_index(0), 5);  // 0.02 first rounds to nonzero at 2^5
  EXPECT_EQ(per_tensor.tensor_index(1), 2);  // 0.5 · 2^2 = 2: nonzero where it starts
  EXPECT_EQ(per_tensor.tensor_index(7), 2);  // never stepped: the initial index
  Quantizer global(Bump(2));
  updates = {at::tensor({0.02f}), at::tensor({0.5f})};
  global.QuantizeInPlace(updates, {{0, 1, false, 0.0}, {1, 1, false, 0.0}});
  EXPECT_EQ(global.tensor_index(0), 5);
  EXPECT_EQ(global.tensor_index(1), 5);
}

TEST(QuantizerTest, SumZeroTestFiresOnCancellation) {
  QuantizerOptions options = Bump(0);
  std::vector<at::Tensor> updates = {at::tensor({1.0f, -1.0f, 0.3f})};
  Quantizer sum(options);
  sum.QuantizeInPlace(updates, {{0, 1, false, 0.0}});
  EXPECT_EQ(sum.index(), 1);  // k = 0: 1 - 1 + 0 = 0, a bump; k = 1: 2 - 2 + 1 = 1
  options.zero_test = ZeroTest::kAllZero;
  Quantizer all_zero(options);
  std::vector<at::Tensor> again = {at::tensor({1.0f, -1.0f, 0.3f})};
  all_zero.QuantizeInPlace(again, {{0, 1, false, 0.0}});
  EXPECT_EQ(all_zero.index(), 0);
}

// The reference's rule (bump_on_zero_update=true): a zero gradient runs the index to the limit + 1.
TEST(QuantizerTest, ZeroGradientRunsToTheLimitPlusOneUnderTheReferenceRule) {
  QuantizerOptions reference = Bump(0);
  reference.bump_on_zero_update = true;
  Quantizer quantizer(reference);
  std::vector<at::Tensor> updates = {at::zeros({4})};
  quantizer.QuantizeInPlace(updates, {{0, 1, false, 0.0}});
  EXPECT_EQ(quantizer.index(), 33);
}

// By default an update that is zero before rounding (an lr of 0, a tensor without gradient) bumps
// nothing, on the ATen path and in the fused loops, while a tiny nonzero update beside it does.
TEST(QuantizerTest, AnUpdateZeroBeforeRoundingBumpsNothing) {
  for (const float beside : {0.0f, 0.1f}) {           // alone, or beside an update that rounds to 0 at index 0..2
    const int64_t expected = beside == 0.0f ? 0 : 3;  // 0.1 * 2^3 = 0.8 rounds to 1
    std::vector<at::Tensor> updates = {at::tensor({0.0f, -0.0f, 0.0f}), at::tensor({beside})};
    Quantizer aten_path(Bump(0));
    aten_path.QuantizeInPlace(updates, {{0, 1, false, 0.0}, {1, 1, false, 0.0}});
    EXPECT_EQ(aten_path.index(), expected) << beside;
    if (fused_cpu::Available()) {
      std::vector<float> param(3, 0.0f), zero = {0.0f, -0.0f, 0.0f}, other = {beside};
      Quantizer fused_path(Bump(0));
      fused_path.QuantizeAndAdd(param.data(), zero.data(), 3, {0, 1, false, 0.0});
      fused_path.QuantizeAndAdd(param.data(), other.data(), 1, {1, 1, false, 0.0});
      fused_path.FinishStep();
      EXPECT_EQ(fused_path.index(), expected) << beside;
    }
  }
}

// A finite h whose rounded value int64 cannot hold (|q| >= 2^63, or h·Q_p overflowing to ±inf):
// the reference's float32 sum is then not 0, so the index stays. (Converted to int64 on x86 each
// would be INT64_MIN, and two of them sum to 0.)
TEST(QuantizerTest, RoundedValuesInt64CannotHoldMakeTheUpdateNonzero) {
  for (const float huge : {1e19f, -1e19f, 3e38f}) {  // 3e38 · 2 overflows to inf
    std::vector<at::Tensor> updates = {at::tensor({huge, huge, 0.0f, 0.0f})};
    Quantizer aten_path(Bump(1));
    aten_path.QuantizeInPlace(updates, {{0, 1, false, 0.0}});
    EXPECT_EQ(aten_path.index(), 1) << huge;
    if (fused_cpu::Available()) {  // the AVX2 loops' path
      std::vector<float> param(4, 0.0f), update = {huge, huge, 0.0f, 0.0f};
      Quantizer fused_path(Bump(1));
      fused_path.QuantizeAndAdd(param.data(), update.data(), 4, {0, 1, false, 0.0});
      fused_path.FinishStep();
      EXPECT_EQ(fused_path.index(), 1) << huge;
    }
  }
}

// Non-finite elements of h take no part in the zero test (algorithm.md Q3): beside 0.1, which
// rounds to 0 at indices 0..2 and to 1 at 3, the index rises to 3 as without them, on both paths
// and for both zero tests; beside zeros only, the update is a zero update and bumps nothing. The
// non-finite elements stay non-finite, the others step.
TEST(QuantizerTest, NonFiniteElementsTakeNoPartInTheZeroTest) {
  const float kInf = std::numeric_limits<float>::infinity();
  for (const ZeroTest zero_test : {ZeroTest::kSum, ZeroTest::kAllZero}) {
    for (const float bad : {std::nanf(""), kInf, -kInf}) {
      for (const float beside : {0.1f, 0.0f}) {
        const int64_t expected = beside == 0.0f ? 0 : 3;
        QuantizerOptions options = Bump(0);
        options.zero_test = zero_test;
        const std::vector<float> update = {bad, beside, bad, 0.0f};
        std::vector<at::Tensor> updates = {at::tensor(update)};
        Quantizer aten_path(options);
        aten_path.QuantizeInPlace(updates, {{0, 1, false, 0.0}});
        EXPECT_EQ(aten_path.index(), expected) << bad << " beside " << beside;
        EXPECT_FALSE(std::isfinite(updates[0][0].item<float>()));
        EXPECT_EQ(updates[0][1].item<float>(), beside == 0.0f ? 0.0f : 0.125f);
        if (fused_cpu::Available()) {
          std::vector<float> param(4, 1.0f), fused_update = update;
          Quantizer fused_path(options);
          fused_path.QuantizeAndAdd(param.data(), fused_update.data(), 4, {0, 1, false, 0.0});
          fused_path.FinishStep();
          EXPECT_EQ(fused_path.index(), expected) << bad << " beside " << beside;
          EXPECT_FALSE(std::isfinite(param[0]));
          EXPECT_EQ(param[1], beside == 0.0f ? 1.0f : 1.125f);
          EXPECT_EQ(param[3], 1.0f);
        }
      }
    }
  }
}

// The log schedule's warm-up offset scales h by its norm: a non-finite element is left out of the
// norm, so the other elements step by finite amounts.
TEST(QuantizerTest, NonFiniteElementsAreLeftOutOfTheLogNorm) {
  QuantizerOptions options;
  options.schedule = QuantSchedule::kLog;
  options.eta = 64.0;
  options.batches_per_epoch = 10;
  options.epochs = 10;
  std::vector<at::Tensor> updates = {at::tensor({std::nanf(""), 0.5f, -0.25f})};
  Quantizer quantizer(options);
  quantizer.QuantizeInPlace(updates, {{0, 1, true, 0.01}});
  EXPECT_TRUE(std::isnan(updates[0][0].item<float>()));
  EXPECT_TRUE(std::isfinite(updates[0][1].item<float>()));
  EXPECT_TRUE(std::isfinite(updates[0][2].item<float>()));
  EXPECT_NE(updates[0][1].item<float>(), 0.0f);
}

TEST(QuantizerTest, StochasticRoundingIsReproducibleAndUnbiased) {
  QuantizerOptions options = Bump(0);
  options.rounding = Rounding::kStochastic;
  options.seed = 11;
  const at::Tensor h = at::full({20000}, 0.3f);
  auto run = [&](uint64_t seed) {
    QuantizerOptions o = options;
    o.seed = seed;
    Quantizer quantizer(o);
    std::vector<at::Tensor> updates = {h.clone()};
    quantizer.QuantizeInPlace(updates, {{0, 1, false, 0.0}});
    return updates[0];
  };
  const at::Tensor a = run(11), b = run(11), c = run(12);
  EXPECT_TRUE(at::equal(a, b));
  EXPECT_FALSE(at::equal(a, c));
  EXPECT_NEAR(at::mean(a).item<double>(), 0.3, 0.01);  // E[floor(x + u)] = x
}

TEST(QuantizerTest, LogScheduleFollowsTheBreakpoints) {
  QuantizerOptions options;
  options.schedule = QuantSchedule::kLog;
  options.offset = false;
  options.batches_per_epoch = 1000;
  options.epochs = 10;
  Quantizer quantizer(options);
  EXPECT_EQ(quantizer.index(), 18);  // "Initial QP" 262144
  // t_e = 0.7 (< e - 2), 0.75 (> e - 2), 5.3, 5.4: indices 18, 19, 19, 20.
  std::vector<double> seen;
  for (int64_t step : {700, 750, 5300, 5400}) {
    std::vector<at::Tensor> updates = {at::randn({3})};
    quantizer.QuantizeInPlace(updates, {{0, step, false, 0.0}});
    seen.push_back(quantizer.index());
  }
  EXPECT_THAT(seen, ElementsAre(18, 19, 19, 20));
}

TEST(QuantizerOptionsTest, RejectsOutOfRangeValuesNamingThem) {
  QuantizerOptions options;
  options.initial_index = 40;
  EXPECT_THAT(options.Validate().message(), HasSubstr("qp=40 is out of range"));
  options = QuantizerOptions();
  options.index_limit = -1;
  EXPECT_THAT(options.Validate().message(), HasSubstr("index_limit=-1"));
  options = QuantizerOptions();
  options.schedule = QuantSchedule::kLog;
  options.batches_per_epoch = 10;
  options.base = 1.0;
  EXPECT_THAT(options.Validate().message(), HasSubstr("base=1"));
  options.base = 2.0;
  options.warmup = 1.5;
  EXPECT_THAT(options.Validate().message(), HasSubstr("warmup=1.5"));
}

TEST(QuantizerOptionsTest, ReadsParams) {
  Params params = *Params::Parse("schedule=log,rounding=floor,eta=64,warmup=0.5", "--quant_params");
  QuantizerOptions defaults;
  defaults.batches_per_epoch = 10;
  auto options = QuantizerOptions::FromParams(params, defaults);
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->schedule, QuantSchedule::kLog);
  EXPECT_EQ(options->rounding, Rounding::kFloor);
  EXPECT_EQ(options->eta, 64);
  EXPECT_EQ(options->warmup, 0.5);
  EXPECT_TRUE(params.CheckAllUsed().ok());
}

}  // namespace
}  // namespace qres::optim
