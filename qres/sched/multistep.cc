// MultiStepLR (torch): the lr times gamma at each milestone (a milestone given n times: gamma^n).
#include <cmath>
#include <map>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class MultiStep final : public Scheduler {
 public:
  MultiStep(double lr, std::map<int64_t, int> milestones, double gamma)
      : lr_(lr), milestones_(std::move(milestones)), gamma_(gamma) {}
  double Initial() const override { return lr_; }
  double Next(double previous, int64_t t) const override {
    const auto it = milestones_.find(t);
    return it == milestones_.end() ? previous : previous * std::pow(gamma_, it->second);
  }

 private:
  double lr_;
  std::map<int64_t, int> milestones_;  // step -> how many times it was given
  double gamma_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeMultiStep(const SchedulerSpec& spec, Params& params) {
  QRES_ASSIGN_OR_RETURN(const std::vector<double> given, params.GetDoubleList("milestones", {}));
  QRES_ASSIGN_OR_RETURN(const double gamma, params.GetDouble("gamma", 0.1));
  if (given.empty()) {
    return absl::InvalidArgumentError(
        "scheduler MultiStepLR: give the milestones (--scheduler_params=milestones=30:60:90)");
  }
  std::map<int64_t, int> milestones;
  for (double step : given) {
    if (!(step >= 1.0) || step != std::floor(step) || step > 1e15) {
      return absl::InvalidArgumentError(
          absl::StrCat("scheduler MultiStepLR: milestone ", step, " must be a whole number of steps >= 1"));
    }
    if (spec.epochs > 0 && step > static_cast<double>(spec.total_steps())) {
      return absl::InvalidArgumentError(absl::StrCat("scheduler MultiStepLR: milestone ", step, " is past the run's ",
                                                     spec.total_steps(), " scheduler steps: it would never act"));
    }
    ++milestones[static_cast<int64_t>(step)];
  }
  QRES_RETURN_IF_ERROR(RequirePositive("MultiStepLR", "gamma", gamma));
  return std::make_unique<MultiStep>(spec.lr, std::move(milestones), gamma);
}

QRES_REGISTER_SCHEDULER("MultiStepLR", "lr*gamma at each of milestones=a:b:... (gamma=0.1)", &MakeMultiStep);

}  // namespace
}  // namespace qres::sched
