#include "qres/sched/scheduler.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::sched {
namespace {

using ::testing::HasSubstr;

std::vector<double> Sequence(LrSchedule schedule, int64_t steps) {
  std::vector<double> values = {schedule.lr()};
  for (int64_t t = 0; t < steps; ++t) {
    schedule.Step();
    values.push_back(schedule.lr());
  }
  return values;
}

LrSchedule Make(const std::string& name, double lr, int64_t epochs, const std::string& params = "") {
  absl::StatusOr<LrSchedule> schedule = MakeLrSchedule(name, {lr, epochs, 1, params});
  EXPECT_TRUE(schedule.ok()) << schedule.status();
  return *schedule;
}

// Every line of schedules_golden.txt: torch's lr sequence, equal bit for bit.
TEST(SchedulerTest, EqualsTorchBitForBit) {
  std::ifstream file("qres/sched/schedules_golden.txt");
  ASSERT_TRUE(file) << "qres/sched/schedules_golden.txt";
  int cases = 0;
  for (std::string line; std::getline(file, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> fields = absl::StrSplit(line, '|');
    ASSERT_EQ(fields.size(), 6u) << line;
    SchedulerSpec spec;
    ASSERT_TRUE(absl::SimpleAtoi(fields[1], &spec.epochs) && absl::SimpleAtoi(fields[2], &spec.steps_per_epoch));
    spec.lr = std::strtod(fields[3].c_str(), nullptr);
    spec.params = fields[4];
    std::vector<double> expected;
    for (absl::string_view value : absl::StrSplit(fields[5], ' '))
      expected.push_back(std::strtod(std::string(value).c_str(), nullptr));
    absl::StatusOr<LrSchedule> schedule = MakeLrSchedule(fields[0], spec);
    ASSERT_TRUE(schedule.ok()) << schedule.status();
    const std::vector<double> got = Sequence(*schedule, static_cast<int64_t>(expected.size()) - 1);
    for (size_t t = 0; t < expected.size(); ++t) {
      ASSERT_EQ(got[t], expected[t]) << fields[0] << " " << spec.params << " step " << t << ": " << std::hexfloat
                                     << got[t] << " vs torch " << expected[t];
    }
    ++cases;
  }
  EXPECT_GE(cases, 15);
}

// algorithm.md §3: CAWR restarts at 10, 30, 70.
TEST(SchedulerTest, WarmRestartsAtTenThirtySeventy) {
  const std::vector<double> lr = Sequence(Make("CAWR", 0.01, 100), 100);
  for (int t = 1; t <= 100; ++t) {
    const bool restart = t == 10 || t == 30 || t == 70;
    EXPECT_EQ(lr[t] > lr[t - 1], restart) << "step " << t;
  }
  EXPECT_DOUBLE_EQ(lr[10], 0.01);
}

// algorithm.md §3: CCAWR restarts at 10, 29, 66 with peaks lr·0.475^i; the reference trains the
// first step of each cycle with lr 0, the default does not.
TEST(SchedulerTest, CustomWarmRestartsFollowTheReference) {
  const double lr = 0.1;
  const std::vector<double> reference = Sequence(Make("CCAWR", lr, 80, "reference=true"), 80);
  const std::vector<double> fixed = Sequence(Make("CCAWR", lr, 80), 80);
  const int starts[] = {0, 10, 29, 66};
  for (int i = 0; i < 4; ++i) {
    const int start = starts[i];
    const double peak = lr * std::pow(0.475, i);
    EXPECT_EQ(reference[start], 0.0) << "cycle " << i;
    EXPECT_DOUBLE_EQ(reference[start + 1], peak) << "cycle " << i;
    EXPECT_DOUBLE_EQ(fixed[start], peak / 2) << "cycle " << i;
    EXPECT_DOUBLE_EQ(fixed[start + 1], peak) << "cycle " << i;
    if (start > 0) {
      EXPECT_LT(reference[start - 1], 0.05 * peak / 0.475) << "the previous cycle ends near 0";
    }
  }
  for (int t = 0; t <= 80; ++t) {
    EXPECT_GT(fixed[t], 0.0) << "step " << t;
    if (t != 0 && t != 10 && t != 29 && t != 66) {
      EXPECT_EQ(fixed[t], reference[t]) << "step " << t;
    }
  }
}

TEST(SchedulerTest, WarmupRisesLinearlyThenStartsTheSchedule) {
  const std::vector<double> lr = Sequence(Make("exp", 0.3, 10, "warmup=3,warmup_start=0.25"), 5);
  EXPECT_DOUBLE_EQ(lr[0], 0.3 * 0.25);
  EXPECT_DOUBLE_EQ(lr[1], 0.3 * 0.5);
  EXPECT_DOUBLE_EQ(lr[2], 0.3 * 0.75);
  EXPECT_EQ(lr[3], 0.3);
  EXPECT_EQ(lr[4], 0.3 * 0.95);
  EXPECT_EQ(lr[5], 0.3 * 0.95 * 0.95);
}

// Defaults taken from the run's length count the steps after the warm-up: a cosine over the whole
// run ends where it would without one.
TEST(SchedulerTest, WarmupShortensTheDefaultLengths) {
  const std::vector<double> lr = Sequence(Make("CosineAnnealingLR", 0.1, 10, "warmup=4"), 10);
  EXPECT_EQ(lr[4], 0.1);
  EXPECT_NEAR(lr[10], 0.0, 1e-12);
  EXPECT_GT(lr[9], 0.0);
}

TEST(SchedulerTest, RestoreContinuesWhereTheScheduleWas) {
  LrSchedule first = Make("CosineAnnealingLR", 0.05, 30, "T_max=7");
  for (int t = 0; t < 12; ++t) first.Step();
  LrSchedule resumed = Make("CosineAnnealingLR", 0.05, 30, "T_max=7");
  resumed.Restore(first.steps(), first.lr());
  for (int t = 0; t < 20; ++t) {
    first.Step();
    resumed.Step();
    ASSERT_EQ(first.lr(), resumed.lr()) << "step " << first.steps();
  }
}

TEST(SchedulerTest, BadInputIsOneLineNamingIt) {
  auto error = [](const std::string& name, int64_t epochs, const std::string& params) {
    absl::StatusOr<LrSchedule> schedule = MakeLrSchedule(name, {0.01, epochs, 1, params});
    EXPECT_FALSE(schedule.ok()) << name << " " << params;
    const std::string message(schedule.status().message());
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  };
  EXPECT_THAT(error("Lion", 10, ""), HasSubstr("unknown scheduler 'Lion'"));
  EXPECT_THAT(error("exp", 10, "gama=0.9"), HasSubstr("unknown key 'gama'"));
  EXPECT_THAT(error("exp", 10, "gamma=-1"), HasSubstr("gamma=-1 must be a finite number > 0"));
  EXPECT_THAT(error("StepLR", 10, ""), HasSubstr("step_size=0 must be >= 1"));
  EXPECT_THAT(
      error("StepLR", 10, "step=3"),
      HasSubstr("(--scheduler_params: unknown key 'step'; valid keys: gamma, step_size, warmup, warmup_start)"));
  EXPECT_THAT(error("MultiStepLR", 10, "milestones=2.5"), HasSubstr("milestone 2.5 must be a whole number"));
  EXPECT_THAT(error("cyclicLR", 3, ""), HasSubstr("step_size_up=0 must be >= 1"));
  EXPECT_THAT(error("OneCycleLR", 2, ""), HasSubstr("leaves a phase without steps"));
  EXPECT_THAT(error("CCAWR", 10, "T_up=10"), HasSubstr("needs 1 <= T_up < T_0"));
  EXPECT_THAT(error("CAWR", 10, "T_0=0"), HasSubstr("T_0 must be >= 1"));
  EXPECT_THAT(error("constant", 10, "warmup=-2"), HasSubstr("warmup=-2 must be >= 0"));
  EXPECT_THAT(error("constant", 10, "warmup_start=2"), HasSubstr("warmup_start=2 must be in [0, 1]"));
}

// Values torch accepts (or accepts until it raises mid-run) that cannot give a sensible run.
TEST(SchedulerTest, ValuesThatCannotTrainAreErrorsNamingTheParameter) {
  auto error = [](const std::string& name, int64_t epochs, const std::string& params) {
    absl::StatusOr<LrSchedule> schedule = MakeLrSchedule(name, {0.01, epochs, 1, params});
    EXPECT_FALSE(schedule.ok()) << name << " " << params;
    return std::string(schedule.status().message());
  };
  EXPECT_THAT(error("exp", 10, "gamma=1e300"),
              HasSubstr("scheduler exp (--scheduler_params=gamma=1e300): the lr becomes 1e+298 at scheduler step 1"));
  EXPECT_THAT(error("ExponentialLR", 10, "gamma=100"),
              HasSubstr("the lr becomes 10000 at scheduler step 3, more than 10^4 x --lr=0.01"));
  EXPECT_THAT(error("OneCycleLR", 20, "div_factor=1e-300"),
              HasSubstr("(--scheduler_params=div_factor=1e-300): the lr becomes"));
  EXPECT_THAT(error("cyclicLR", 20, "gamma=1e10"), HasSubstr("more than 10^4 x --lr=0.01"));
  EXPECT_THAT(error("CosineAnnealingLR", 10, "eta_min=0.5"),
              HasSubstr("eta_min=0.5 is above the lr 0.01: it would anneal upward"));
  EXPECT_THAT(error("MultiStepLR", 10, "milestones=5:12"),
              HasSubstr("milestone 12 is past the run's 10 scheduler steps"));
  EXPECT_THAT(error("OneCycleLR", 20, "total_steps=10"),
              HasSubstr("total_steps=10 is shorter than the run's 20 scheduler steps"));
  for (const char* name : {"constant", "StepLR", "CosineAnnealingLR"}) {
    EXPECT_THAT(error(name, 5, "warmup=5,step_size=1"),
                HasSubstr("warmup=5 is not shorter than the run (5 scheduler steps)"))
        << name;
  }
  // Decayed to nothing before the run ends: 0 after 3 steps, or a subnormal lr.
  EXPECT_THAT(error("ExponentialLR", 10, "gamma=1e-300"),
              HasSubstr("the lr falls to 1e-302 at scheduler step 1 of 10 and stays below 1.17549e-38"));
  EXPECT_THAT(error("MultiStepLR", 10, "milestones=3,gamma=1e-320"),
              HasSubstr("the lr falls to 9.88131e-323 at scheduler step 3 of 10"));
  EXPECT_THAT(error("StepLR", 10, "step_size=2,gamma=1e-20"),
              HasSubstr("the lr falls to 1e-42 at scheduler step 4 of 10"));
  // A designed end at 0 on the last step, and a warm-up from 0, train.
  EXPECT_TRUE(MakeLrSchedule("CosineAnnealingLR", {0.01, 10, 1, "eta_min=0,T_max=9"}).ok());
  EXPECT_TRUE(MakeLrSchedule("constant", {0.01, 10, 1, "warmup=3,warmup_start=0"}).ok());
  // What a range test does is fine: 10^3 x over the run.
  EXPECT_TRUE(MakeLrSchedule("ExponentialLR", {0.01, 100, 1, "gamma=1.07"}).ok());
  EXPECT_TRUE(MakeLrSchedule("MultiStepLR", {0.01, 10, 1, "milestones=5:10"}).ok());
}

TEST(SchedulerTest, EveryNameIsRegistered) {
  EXPECT_THAT(SchedulerRegistry::Names(),
              ::testing::IsSupersetOf({"constant", "LambdaLR", "exp", "cyclicLR", "CAWR", "CCAWR", "StepLR",
                                       "MultiStepLR", "CosineAnnealingLR", "OneCycleLR", "ExponentialLR",
                                       "CosineAnnealingWarmRestarts", "CustomCosineAnnealingWarmRestarts"}));
  EXPECT_TRUE(SchedulerRegistry::Validate().ok());
}

}  // namespace
}  // namespace qres::sched
