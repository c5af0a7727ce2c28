// OneCycleLR (torch, two phases, cosine annealing): from max_lr/div_factor up to max_lr (the run's
// lr) over pct_start of total_steps (default: the whole run), then down to
// max_lr/div_factor/final_div_factor. The momentum is not cycled (torch's cycle_momentum=False).
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class OneCycle final : public Scheduler {
 public:
  OneCycle(double max_lr, int64_t total_steps, double pct_start, double div_factor, double final_div_factor)
      : max_lr_(max_lr),
        initial_lr_(max_lr / div_factor),
        min_lr_(initial_lr_ / final_div_factor),
        warm_end_(pct_start * static_cast<double>(total_steps) - 1),
        end_(static_cast<double>(total_steps - 1)) {}

  double Initial() const override { return At(0); }
  double Next(double, int64_t t) const override { return At(t); }

 private:
  // torch's _annealing_cos: cosine from start to end as pct goes from 0 to 1.
  static double AnnealCos(double start, double end, double pct) {
    const double cos_out = std::cos(M_PI * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
  }
  double At(int64_t t) const {
    const double step = static_cast<double>(t);
    if (step <= warm_end_) return AnnealCos(initial_lr_, max_lr_, (step - 0.0) / (warm_end_ - 0.0));
    return AnnealCos(max_lr_, min_lr_, (step - warm_end_) / (end_ - warm_end_));
  }

  double max_lr_, initial_lr_, min_lr_;
  double warm_end_, end_;  // the phases' last steps
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeOneCycle(const SchedulerSpec& spec, Params& params) {
  QRES_ASSIGN_OR_RETURN(const int64_t total_steps, params.GetInt("total_steps", spec.total_steps()));
  QRES_ASSIGN_OR_RETURN(const double pct_start, params.GetDouble("pct_start", 0.3));
  QRES_ASSIGN_OR_RETURN(const double div_factor, params.GetDouble("div_factor", 25.0));
  QRES_ASSIGN_OR_RETURN(const double final_div_factor, params.GetDouble("final_div_factor", 1e4));
  if (total_steps < spec.total_steps()) {  // torch raises once stepped past total_steps
    return absl::InvalidArgumentError(absl::StrCat("scheduler OneCycleLR: total_steps=", total_steps,
                                                   " is shorter than the run's ", spec.total_steps(),
                                                   " scheduler steps: the lr would climb back"));
  }
  QRES_RETURN_IF_ERROR(RequireInRange("OneCycleLR", "pct_start", pct_start, 0.0, 1.0));
  QRES_RETURN_IF_ERROR(RequirePositive("OneCycleLR", "div_factor", div_factor));
  QRES_RETURN_IF_ERROR(RequirePositive("OneCycleLR", "final_div_factor", final_div_factor));
  // Both phases must be at least one step long, or torch divides by zero.
  const double warm_end = pct_start * static_cast<double>(total_steps) - 1;
  if (!(warm_end > 0.0) || !(static_cast<double>(total_steps - 1) > warm_end)) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler OneCycleLR: total_steps=", total_steps,
                                                   " with pct_start=", pct_start,
                                                   " leaves a phase without steps: train longer, step per batch "
                                                   "(--scheduler_interval=batch) or change pct_start"));
  }
  return std::make_unique<OneCycle>(spec.lr, total_steps, pct_start, div_factor, final_div_factor);
}

QRES_REGISTER_SCHEDULER("OneCycleLR",
                        "lr/25 up to lr over pct_start=0.3 of the run, then down to lr/25/1e4 (cosine; "
                        "momentum not cycled)",
                        &MakeOneCycle);

}  // namespace
}  // namespace qres::sched
