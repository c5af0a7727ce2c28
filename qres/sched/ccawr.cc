// CCAWR, the follow-up's CustomCosineAnnealingWarmRestarts (algorithm.md §3): cycles of
// T_0 = 10, then T_{i+1} = (T_i − T_up)·T_mult + T_up steps (restarts at 10, 29, 66, ...), each
// a linear warm-up of T_up = 1 step to the cycle's peak lr·gamma^i (gamma = 0.95/2 = 0.475, as
// halved in its code) and a cosine from the peak down to 0.
//
// The reference builds the optimizer with lr 0, so its warm-up starts at 0: the first step of every
// cycle trains with lr 0 (no update at all). By default the warm-up's steps here end on the peak
// instead of starting at 0 (step k of T_up trains with peak·(k + 1)/(T_up + 1)); reference=true
// reproduces the zero-lr steps.
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class CustomWarmRestarts final : public Scheduler {
 public:
  CustomWarmRestarts(double lr, int64_t t_0, int64_t t_mult, int64_t t_up, double gamma, bool reference)
      : lr_(lr), t_0_(t_0), t_mult_(t_mult), t_up_(t_up), gamma_(gamma), reference_(reference) {}
  double Initial() const override { return At(0); }
  double Next(double, int64_t t) const override { return At(t); }

 private:
  double At(int64_t t) const {
    int64_t t_i = t_0_, t_cur = t, cycle = 0;
    while (t_cur >= t_i) {
      t_cur -= t_i;
      t_i = (t_i - t_up_) * t_mult_ + t_up_;
      ++cycle;
    }
    const double peak = lr_ * std::pow(gamma_, static_cast<double>(cycle));
    if (t_cur < t_up_) {
      const double up = static_cast<double>(t_up_);
      return reference_ ? peak * static_cast<double>(t_cur) / up : peak * static_cast<double>(t_cur + 1) / (up + 1);
    }
    return peak * (1 + std::cos(M_PI * static_cast<double>(t_cur - t_up_) / static_cast<double>(t_i - t_up_))) / 2;
  }

  double lr_;
  int64_t t_0_, t_mult_, t_up_;
  double gamma_;
  bool reference_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeCustomWarmRestarts(const SchedulerSpec& spec, Params& params) {
  QRES_ASSIGN_OR_RETURN(const int64_t t_0, params.GetInt("T_0", 10));
  QRES_ASSIGN_OR_RETURN(const int64_t t_mult, params.GetInt("T_mult", 2));
  QRES_ASSIGN_OR_RETURN(const int64_t t_up, params.GetInt("T_up", 1));
  QRES_ASSIGN_OR_RETURN(const double gamma, params.GetDouble("gamma", 0.475));
  QRES_ASSIGN_OR_RETURN(const bool reference, params.GetBool("reference", false));
  if (t_up < 1 || t_0 <= t_up || t_mult < 1 || t_mult > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("scheduler CCAWR: T_0=", t_0, ", T_mult=", t_mult, ", T_up=", t_up,
                                                   ": needs 1 <= T_up < T_0 and T_mult in [1, 1024]"));
  }
  QRES_RETURN_IF_ERROR(RequirePositive("CCAWR", "gamma", gamma));
  return std::make_unique<CustomWarmRestarts>(spec.lr, t_0, t_mult, t_up, gamma, reference);
}

constexpr char kHelp[] =
    "the follow-up's custom warm restarts: cycles of T_0=10, then (T_i-T_up)*T_mult+T_up steps, peaks "
    "lr*gamma^i (gamma=0.475), T_up=1 warm-up step; reference=true keeps its lr-0 first step of each cycle";
QRES_REGISTER_SCHEDULER("CCAWR", kHelp, &MakeCustomWarmRestarts);
QRES_REGISTER_SCHEDULER("CustomCosineAnnealingWarmRestarts", kHelp, &MakeCustomWarmRestarts);

}  // namespace
}  // namespace qres::sched
