// StepLR (torch): the lr times gamma every step_size steps.
#include <memory>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class Step final : public Scheduler {
 public:
  Step(double lr, int64_t step_size, double gamma) : lr_(lr), step_size_(step_size), gamma_(gamma) {}
  double Initial() const override { return lr_; }
  double Next(double previous, int64_t t) const override { return t % step_size_ != 0 ? previous : previous * gamma_; }

 private:
  double lr_;
  int64_t step_size_;
  double gamma_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeStep(const SchedulerSpec& spec, Params& params) {
  QRES_ASSIGN_OR_RETURN(const int64_t step_size, params.GetInt("step_size", 0));
  QRES_ASSIGN_OR_RETURN(const double gamma, params.GetDouble("gamma", 0.1));
  if (step_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("scheduler StepLR: step_size=", step_size, " must be >= 1 (--scheduler_params=step_size=N)"));
  }
  QRES_RETURN_IF_ERROR(RequirePositive("StepLR", "gamma", gamma));
  return std::make_unique<Step>(spec.lr, step_size, gamma);
}

QRES_REGISTER_SCHEDULER("StepLR", "lr*gamma every step_size steps (step_size required, gamma=0.1)", &MakeStep);

}  // namespace
}  // namespace qres::sched
