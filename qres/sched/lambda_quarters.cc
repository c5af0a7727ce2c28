// LambdaLR, the follow-up's (algorithm.md §3): lr times 1, 0.618², 0.618⁴, 0.618⁶ in the four
// quarters of the run (base_lr · λ(t), as torch's LambdaLR computes it).
#include <cmath>
#include <memory>

#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class LambdaQuarters final : public Scheduler {
 public:
  LambdaQuarters(double lr, int64_t total_steps) : lr_(lr), total_(static_cast<double>(total_steps)) {}
  double Initial() const override { return At(0); }
  double Next(double, int64_t t) const override { return At(t); }

 private:
  double At(int64_t t) const {
    const double step = static_cast<double>(t);
    double factor = std::pow(0.618, 6);
    if (step < total_ / 4) {
      factor = 1.0;
    } else if (step < total_ / 2) {
      factor = std::pow(0.618, 2);
    } else if (step < 3 * total_ / 4) {
      factor = std::pow(0.618, 4);
    }
    return lr_ * factor;
  }

  double lr_, total_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeLambdaQuarters(const SchedulerSpec& spec, Params&) {
  return std::make_unique<LambdaQuarters>(spec.lr, spec.total_steps());
}

QRES_REGISTER_SCHEDULER("LambdaLR", "the follow-up's quarter steps: lr times 1, 0.618^2, 0.618^4, 0.618^6",
                        &MakeLambdaQuarters);

}  // namespace
}  // namespace qres::sched
