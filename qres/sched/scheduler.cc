#include "qres/sched/scheduler.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"

namespace qres::sched {
namespace {

// warmup=N: lr_0·(f + (1 − f)·t/N) for t < N, then the schedule from its step 0.
class Warmup final : public Scheduler {
 public:
  Warmup(std::unique_ptr<Scheduler> schedule, int64_t steps, double start)
      : schedule_(std::move(schedule)), steps_(steps), start_(start) {}

  double Initial() const override { return schedule_->Initial() * start_; }
  double Next(double previous, int64_t t) const override {
    if (t < steps_) {
      return schedule_->Initial() * (start_ + (1.0 - start_) * static_cast<double>(t) / static_cast<double>(steps_));
    }
    if (t == steps_) return schedule_->Initial();
    return schedule_->Next(previous, t - steps_);
  }

 private:
  std::unique_ptr<Scheduler> schedule_;
  int64_t steps_;
  double start_;
};

}  // namespace

absl::Status RequirePositive(const std::string& scheduler, const std::string& key, double value) {
  if (value > 0.0 && std::isfinite(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("scheduler ", scheduler, ": ", key, "=", value, " must be a finite number > 0"));
}

absl::Status RequireInRange(const std::string& scheduler, const std::string& key, double value, double low,
                            double high) {
  if (value >= low && value <= high) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("scheduler ", scheduler, ": ", key, "=", value, " must be in [", low, ", ", high, "]"));
}

namespace {

// Parameters torch accepts that cannot train (gamma=1e300, div_factor=1e-300, a cyclic amplitude
// that grows 1e10 a step; gamma=1e-300, which decays to nothing): every lr of the run is walked
// (microseconds a thousand steps). One that is not finite or passes 10^4 x the run's lr is an
// error naming the parameters; 10^4 leaves room for an lr range test (a growing ExponentialLR over
// a run, typically 10^2-10^3). So is an lr that falls below float's smallest normal number (the
// optimizers' lr is a float there: 0, or a subnormal no update survives) and stays there before the
// run's last step; a schedule that ends at 0 on its last step (cosine to eta_min=0) is designed so,
// and a warm-up from 0 rises again.
absl::Status CheckTheRunsLrs(const std::string& name, const SchedulerSpec& spec, LrSchedule schedule) {
  constexpr double kMostAboveTheLr = 1e4;
  const double smallest_normal = std::numeric_limits<float>::min();
  const std::string which = absl::StrCat(
      "scheduler ", name, spec.params.empty() ? "" : absl::StrCat(" (--scheduler_params=", spec.params, ")"));
  const int64_t steps = std::min<int64_t>(spec.epochs * spec.steps_per_epoch, int64_t{1} << 24);
  int64_t vanished_at = -1;  // the step from which the lr stays below smallest_normal, if it does
  double vanished_lr = 0.0;
  for (int64_t t = 0; t < steps; ++t, schedule.Step()) {
    const double lr = schedule.lr();
    const bool too_high = spec.lr > 0 && lr > kMostAboveTheLr * spec.lr;
    if (!std::isfinite(lr) || lr < 0 || too_high) {
      return absl::InvalidArgumentError(absl::StrCat(which, ": the lr becomes ", lr, " at scheduler step ", t,
                                                     too_high ? absl::StrCat(", more than 10^4 x --lr=", spec.lr) : "",
                                                     "; no run trains with it"));
    }
    if (lr >= smallest_normal) {
      vanished_at = -1;
    } else if (vanished_at < 0) {
      vanished_at = t;
      vanished_lr = lr;
    }
  }
  if (spec.lr > 0 && vanished_at >= 0 && vanished_at < steps - 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        which, ": the lr falls to ", vanished_lr, " at scheduler step ", vanished_at, " of ", steps,
        " and stays below ", smallest_normal, " (float's smallest normal number) to the end: nothing trains after it"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<LrSchedule> MakeLrSchedule(const std::string& name, const SchedulerSpec& spec) {
  QRES_ASSIGN_OR_RETURN(const SchedulerRegistry::Entry* entry, SchedulerRegistry::Find(name));
  QRES_ASSIGN_OR_RETURN(Params params, Params::Parse(spec.params, "--scheduler_params"));
  QRES_ASSIGN_OR_RETURN(const int64_t warmup, params.GetInt("warmup", 0));
  QRES_ASSIGN_OR_RETURN(const double warmup_start, params.GetDouble("warmup_start", 1.0 / 3.0));
  if (warmup < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--scheduler_params: warmup=", warmup, " must be >= 0"));
  }
  QRES_RETURN_IF_ERROR(RequireInRange(entry->name, "warmup_start", warmup_start, 0.0, 1.0));
  const int64_t run_steps = spec.epochs * spec.steps_per_epoch;
  if (warmup > 0 && run_steps > 0 && warmup >= run_steps) {
    return absl::InvalidArgumentError(absl::StrCat("--scheduler_params: warmup=", warmup,
                                                   " is not shorter than the run (", run_steps,
                                                   " scheduler steps): the schedule would never start"));
  }
  SchedulerSpec after_warmup = spec;
  after_warmup.warmup = warmup;
  absl::StatusOr<std::unique_ptr<Scheduler>> made = entry->factory(after_warmup, params);
  if (absl::Status unknown = params.CheckAllUsed(); !unknown.ok()) {
    // A misspelt key explains the error it caused (step=3: "step_size=0 must be >= 1").
    if (made.ok()) return unknown;
    return absl::InvalidArgumentError(absl::StrCat(made.status().message(), " (", unknown.message(), ")"));
  }
  if (!made.ok()) return made.status();
  std::unique_ptr<Scheduler> scheduler = *std::move(made);
  if (warmup > 0) scheduler = std::make_unique<Warmup>(std::move(scheduler), warmup, warmup_start);
  LrSchedule schedule(std::move(scheduler));
  QRES_RETURN_IF_ERROR(CheckTheRunsLrs(entry->name, spec, schedule));
  return schedule;
}

}  // namespace qres::sched
