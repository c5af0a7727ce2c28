// cyclicLR, the follow-up's torch CyclicLR (algorithm.md §3): triangles between base·lr and lr,
// step_size_up = int(E/4) steps up and as many down, mode exp_range (the amplitude times
// gamma^t, gamma = 0.95); starts at base·lr. The momentum is not cycled (as the follow-up).
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class CyclicExpRange final : public Scheduler {
 public:
  CyclicExpRange(double base_lr, double max_lr, int64_t step_size_up, double gamma)
      : base_lr_(base_lr),
        max_lr_(max_lr),
        total_size_(2.0 * static_cast<double>(step_size_up)),
        step_ratio_(static_cast<double>(step_size_up) / total_size_),
        gamma_(gamma) {}
  double Initial() const override { return At(0); }
  double Next(double, int64_t t) const override { return At(t); }

 private:
  double At(int64_t t) const {  // torch's CyclicLR.get_lr, scale_mode "iterations"
    const double step = static_cast<double>(t);
    const double cycle = std::floor(1 + step / total_size_);
    const double x = 1.0 + step / total_size_ - cycle;
    const double scale_factor = x <= step_ratio_ ? x / step_ratio_ : (x - 1) / (step_ratio_ - 1);
    const double base_height = (max_lr_ - base_lr_) * scale_factor;
    return base_lr_ + base_height * std::pow(gamma_, step);
  }

  double base_lr_, max_lr_, total_size_, step_ratio_, gamma_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeCyclic(const SchedulerSpec& spec, Params& params) {
  QRES_ASSIGN_OR_RETURN(const double base, params.GetDouble("base", 0.1));
  QRES_ASSIGN_OR_RETURN(const int64_t step_size_up, params.GetInt("step_size_up", spec.total_steps() / 4));
  QRES_ASSIGN_OR_RETURN(const double gamma, params.GetDouble("gamma", 0.95));
  QRES_RETURN_IF_ERROR(RequireInRange("cyclicLR", "base", base, 0.0, 1.0));
  QRES_RETURN_IF_ERROR(RequirePositive("cyclicLR", "gamma", gamma));
  if (step_size_up < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scheduler cyclicLR: step_size_up=", step_size_up, " must be >= 1 (its default is a quarter of the ",
        spec.total_steps(), " scheduler steps: train longer or give step_size_up)"));
  }
  return std::make_unique<CyclicExpRange>(base * spec.lr, spec.lr, step_size_up, gamma);
}

QRES_REGISTER_SCHEDULER("cyclicLR",
                        "the follow-up's CyclicLR: base=0.1 of lr up to lr and back in step_size_up=E/4 "
                        "steps each way, amplitude times gamma=0.95 per step",
                        &MakeCyclic);

}  // namespace
}  // namespace qres::sched
