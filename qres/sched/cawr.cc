// CosineAnnealingWarmRestarts (torch; CAWR in the follow-up, whose settings are the defaults):
// a cosine from lr down towards eta_min over T_i steps, restarting at lr; T_0 = 10,
// T_{i+1} = T_i·T_mult with T_mult = 2 (restarts at 10, 30, 70, ...), eta_min = 0.1·lr.
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class WarmRestarts final : public Scheduler {
 public:
  WarmRestarts(double lr, int64_t t_0, int64_t t_mult, double eta_min)
      : lr_(lr), t_0_(t_0), t_mult_(t_mult), eta_min_(eta_min) {}
  double Initial() const override { return At(0); }
  double Next(double, int64_t t) const override { return At(t); }

 private:
  double At(int64_t t) const {
    // torch's step(): T_cur counts up and wraps at T_i, which then grows by T_mult.
    int64_t t_i = t_0_, t_cur = t;
    if (t_mult_ == 1) {
      t_cur = t % t_0_;
    } else {
      while (t_cur >= t_i) {
        t_cur -= t_i;
        t_i *= t_mult_;
      }
    }
    return eta_min_ +
           (lr_ - eta_min_) * (1 + std::cos(M_PI * static_cast<double>(t_cur) / static_cast<double>(t_i))) / 2;
  }

  double lr_;
  int64_t t_0_, t_mult_;
  double eta_min_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeWarmRestarts(const SchedulerSpec& spec, Params& params) {
  QRES_ASSIGN_OR_RETURN(const int64_t t_0, params.GetInt("T_0", 10));
  QRES_ASSIGN_OR_RETURN(const int64_t t_mult, params.GetInt("T_mult", 2));
  QRES_ASSIGN_OR_RETURN(const double eta_min_factor, params.GetDouble("eta_min_factor", 0.1));
  if (t_0 < 1 || t_mult < 1 || t_mult > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("scheduler CAWR: T_0=", t_0, ", T_mult=", t_mult, ": T_0 must be >= 1 and T_mult in [1, 1024]"));
  }
  QRES_RETURN_IF_ERROR(RequireInRange("CAWR", "eta_min_factor", eta_min_factor, 0.0, 1.0));
  return std::make_unique<WarmRestarts>(spec.lr, t_0, t_mult, eta_min_factor * spec.lr);
}

constexpr char kHelp[] =
    "cosine from lr to eta_min_factor=0.1 of lr, restarting after T_0=10 steps, then T_mult=2 times longer";
QRES_REGISTER_SCHEDULER("CAWR", kHelp, &MakeWarmRestarts);
QRES_REGISTER_SCHEDULER("CosineAnnealingWarmRestarts", kHelp, &MakeWarmRestarts);

}  // namespace
}  // namespace qres::sched
