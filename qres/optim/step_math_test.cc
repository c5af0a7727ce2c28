#include "qres/optim/step_math.h"

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace qres::optim::step_math {
namespace {

TEST(SumSquaresInOrderTest, IsAccurateForEveryTailLength) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1e-3f);
  for (int64_t n : {0, 1, 255, 256, 2047, 2048, 2049, 10000}) {
    std::vector<float> h(n);
    long double exact = 0.0L;
    for (float& x : h) {
      x = normal(rng);
      exact += static_cast<long double>(x) * x;
    }
    const double sum = SumSquaresInOrder(h.data(), n);
    EXPECT_NEAR(sum, static_cast<double>(exact), 1e-14 * static_cast<double>(exact) + 1e-300) << n;
  }
}

// The quantizer's ATen path widens any update to float64 before summing; for a float32 update
// that must give the bits of the float32 loops (and so of the GPU).
TEST(SumSquaresInOrderTest, FloatAndDoubleInputsAgree) {
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> h(5000);
  for (float& x : h) x = uniform(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 40) - 20);
  const std::vector<double> wide(h.begin(), h.end());
  EXPECT_EQ(SumSquaresInOrder(h.data(), 5000), SumSquaresInOrder(wide.data(), 5000));
}

TEST(FitsInt64Test, HoldsExactlyTheValuesBelow2To63InMagnitude) {
  const float largest = std::nextafter(9223372036854775808.0f, 0.0f);  // 2^63 - 2^39
  EXPECT_TRUE(FitsInt64(0.0f));
  EXPECT_TRUE(FitsInt64(largest));
  EXPECT_TRUE(FitsInt64(-largest));
  EXPECT_FALSE(FitsInt64(9223372036854775808.0f));
  EXPECT_FALSE(FitsInt64(-9223372036854775808.0f));  // held by int64, but kept symmetric
  EXPECT_FALSE(FitsInt64(std::numeric_limits<float>::infinity()));
  EXPECT_FALSE(FitsInt64(std::nanf("")));
  EXPECT_TRUE(IsFinite(0.0f) && IsFinite(-largest) && IsFinite(std::numeric_limits<float>::denorm_min()));
  EXPECT_FALSE(IsFinite(std::numeric_limits<float>::infinity()) || IsFinite(-std::numeric_limits<float>::infinity()) ||
               IsFinite(std::nanf("")));
  EXPECT_TRUE(IsFinite(1e300) && !IsFinite(std::numeric_limits<double>::infinity()));
  EXPECT_TRUE(IsZero(RoundedTotal{0, 0}));
  EXPECT_FALSE(IsZero(RoundedTotal{0, 1}));
  EXPECT_FALSE(IsZero(RoundedTotal{-3, 0}));
}

TEST(RoundTest, EachModeRoundsAsDocumented) {
  EXPECT_EQ(Round<Rounding::kHalfUp>(0.25f, 2.0f, 0, 0), 1.0f);   // 0.5 rounds up
  EXPECT_EQ(Round<Rounding::kHalfUp>(-0.25f, 2.0f, 0, 0), 0.0f);  // -0.5 rounds up too
  EXPECT_EQ(Round<Rounding::kFloor>(-0.25f, 2.0f, 0, 0), -1.0f);
  EXPECT_EQ(Round<Rounding::kNearestEven>(1.25f, 2.0f, 0, 0), 2.0f);  // 2.5 -> 2
  EXPECT_EQ(Round<Rounding::kNearestEven>(1.75f, 2.0f, 0, 0), 4.0f);  // 3.5 -> 4
  for (int64_t j = 0; j < 100; ++j) {
    const float q = Round<Rounding::kStochastic>(0.3f, 1.0f, 99, j);
    EXPECT_TRUE(q == 0.0f || q == 1.0f);
    EXPECT_EQ(q, RoundAny(Rounding::kStochastic, 0.3f, 1.0f, 99, j));
  }
}

}  // namespace
}  // namespace qres::optim::step_math
