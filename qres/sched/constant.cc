// constant: the follow-up's default (its ConstantLR with factor 1): the run's lr throughout.
#include <memory>

#include "qres/sched/scheduler.h"

namespace qres::sched {
namespace {

class Constant final : public Scheduler {
 public:
  explicit Constant(double lr) : lr_(lr) {}
  double Initial() const override { return lr_; }
  double Next(double previous, int64_t) const override { return previous; }

 private:
  double lr_;
};

absl::StatusOr<std::unique_ptr<Scheduler>> MakeConstant(const SchedulerSpec& spec, Params&) {
  return std::make_unique<Constant>(spec.lr);
}

QRES_REGISTER_SCHEDULER("constant", "the run's lr throughout (the default; the follow-up's ConstantLR)", &MakeConstant);

}  // namespace
}  // namespace qres::sched
