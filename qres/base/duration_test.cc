#include "qres/base/duration.h"

#include <limits>

#include "gtest/gtest.h"

namespace qres {
namespace {

TEST(FormatDurationTest, SecondsMinutesHours) {
  EXPECT_EQ(FormatDuration(0), "0s");
  EXPECT_EQ(FormatDuration(44.6), "45s");
  EXPECT_EQ(FormatDuration(187), "3m07s");
  EXPECT_EQ(FormatDuration(7500), "2h05m");
  EXPECT_EQ(FormatDuration(-3), "0s");  // a clock that stepped back
  EXPECT_EQ(FormatDuration(std::numeric_limits<double>::infinity()), "0s");
}

}  // namespace
}  // namespace qres
