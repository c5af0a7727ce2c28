// ExponentialLR (torch) and exp (the follow-up's: γ = 0.95): lr_t = lr_{t-1}·γ, the recurrence
// torch computes (not lr·γ^t, which differs in the last bits).
#include <memory>

#include "qres/base/status_macros.h"
#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class Exponential final : public Scheduler {
 public:
  Exponential(double lr, double gamma) : lr_(lr), gamma_(gamma) {}
  double Initial() const override { return lr_; }
  double Next(double previous, int64_t) const override { return previous * gamma_; }

 private:
  double lr_, gamma_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeExponential(const SchedulerSpec& spec, Params& params) {
  QRES_ASSIGN_OR_RETURN(const double gamma, params.GetDouble("gamma", 0.95));
  QRES_RETURN_IF_ERROR(RequirePositive("ExponentialLR", "gamma", gamma));
  return std::make_unique<Exponential>(spec.lr, gamma);
}

QRES_REGISTER_SCHEDULER("ExponentialLR", "lr*gamma^t (gamma=0.95)", &MakeExponential);
QRES_REGISTER_SCHEDULER("exp", "the follow-up's ExponentialLR: lr*0.95^t (gamma=0.95)", &MakeExponential);

}  // namespace
}  // namespace qres::sched
