// CosineAnnealingLR (torch): from lr down to eta_min over T_max steps (default: the whole run)
// along a cosine, by torch's recurrence (each lr from the previous one), back up after T_max.
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class CosineAnnealing final : public Scheduler {
 public:
  CosineAnnealing(double lr, int64_t t_max, double eta_min) : lr_(lr), t_max_(t_max), eta_min_(eta_min) {}
  double Initial() const override { return lr_; }
  double Next(double previous, int64_t t) const override {
    const double t_max = static_cast<double>(t_max_);
    const int64_t period = 2 * t_max_;
    if ((((t - 1 - t_max_) % period) + period) % period == 0) {  // Python's modulo: never negative
      return previous + (lr_ - eta_min_) * (1 - std::cos(M_PI / t_max)) / 2;
    }
    return (1 + std::cos(M_PI * static_cast<double>(t) / t_max)) /
               (1 + std::cos(M_PI * static_cast<double>(t - 1) / t_max)) * (previous - eta_min_) +
           eta_min_;
  }

 private:
  double lr_;
  int64_t t_max_;
  double eta_min_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeCosineAnnealing(const SchedulerSpec& spec, Params& params) {
  QRES_ASSIGN_OR_RETURN(const int64_t t_max, params.GetInt("T_max", spec.total_steps()));
  QRES_ASSIGN_OR_RETURN(const double eta_min, params.GetDouble("eta_min", 0.0));
  if (t_max < 1) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler CosineAnnealingLR: T_max=", t_max, " must be >= 1"));
  }
  if (!(eta_min >= 0.0) || !std::isfinite(eta_min)) {
    return absl::InvalidArgumentError(
        absl::StrCat("scheduler CosineAnnealingLR: eta_min=", eta_min, " must be a finite number >= 0"));
  }
  if (eta_min > spec.lr) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler CosineAnnealingLR: eta_min=", eta_min,
                                                   " is above the lr ", spec.lr, ": it would anneal upward"));
  }
  return std::make_unique<CosineAnnealing>(spec.lr, t_max, eta_min);
}

QRES_REGISTER_SCHEDULER("CosineAnnealingLR", "cosine from lr to eta_min (0) over T_max steps (the whole run)",
                        &MakeCosineAnnealing);

}  // namespace
}  // namespace qres::sched
