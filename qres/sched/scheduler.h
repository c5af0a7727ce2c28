// Learning-rate schedules (algorithm.md §3), registered by name like nets and optimizers:
//
//   SchedulerSpec spec{/*lr=*/0.01, /*epochs=*/15, /*steps_per_epoch=*/1, /*params=*/"gamma=0.9"};
//   QRES_ASSIGN_OR_RETURN(LrSchedule schedule, MakeLrSchedule("ExponentialLR", spec));
//   for (...) { train with schedule.lr(); schedule.Step(); }
//
// A scheduler step is an epoch (the follow-up's rule: after the epoch's batches) or a batch
// (steps_per_epoch = batches per epoch). Parameters that count time (step_size, milestones, T_max,
// T_0, warmup, ...) count scheduler steps, as torch's do; defaults derived from the run's length
// count its E·steps_per_epoch steps less the warm-up.
//
// The torch-equivalent schedules repeat torch.optim.lr_scheduler's arithmetic, recurrences
// included (ExponentialLR multiplies the previous lr, it does not raise γ to a power), so their lr
// sequences equal torch's bit for bit (qres/sched/schedules_golden.txt, made by
// tools/golden/make_schedule_golden.py). Their state is the step count and the current lr; a
// checkpoint keeps both.
//
// Every scheduler also takes warmup=N (steps) and warmup_start=f (default 1/3, as torch's LinearLR):
// the lr rises linearly from f·lr_0 to lr_0 over N steps, then the schedule starts.
#ifndef QRES_SCHED_SCHEDULER_H_
#define QRES_SCHED_SCHEDULER_H_

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "qres/base/params.h"
#include "qres/base/registry.h"

namespace qres::sched {

// Everything a factory needs.
struct SchedulerSpec {
  double lr = 0.0;              // the run's lr (-l): the schedule's base
  int64_t epochs = 0;           // E
  int64_t steps_per_epoch = 1;  // 1 (stepped per epoch) or the batches per epoch (per batch)
  std::string params;           // --scheduler_params: "k=v,..."
  int64_t warmup = 0;           // steps of linear warm-up in front (warmup=N): not the schedule's

  // The schedule's own steps: the run's, less the warm-up.
  int64_t total_steps() const { return std::max<int64_t>(epochs * steps_per_epoch - warmup, 0); }
};

// One schedule's rule. Stateless: the runtime state (step count, current lr) is LrSchedule's.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // The lr of step 0: what the first epoch (or batch) trains with.
  virtual double Initial() const = 0;
  // The lr of step t >= 1, from the lr of step t − 1 (recurrences use it, closed forms do not).
  virtual double Next(double previous, int64_t t) const = 0;
};

// A factory reads its keys from `params` (the caller rejects keys nobody read).
using SchedulerRegistry = Registry<Scheduler, const SchedulerSpec&, Params&>;

// A scheduler with its state: the lr to train with now, and Step() after each epoch (or batch).
class LrSchedule {
 public:
  explicit LrSchedule(std::shared_ptr<const Scheduler> scheduler)
      : scheduler_(std::move(scheduler)), lr_(scheduler_->Initial()) {}

  double lr() const { return lr_; }
  int64_t steps() const { return steps_; }
  void Step() { lr_ = scheduler_->Next(lr_, ++steps_); }
  // Where a checkpoint left it.
  void Restore(int64_t steps, double lr) {
    steps_ = steps;
    lr_ = lr;
  }

 private:
  std::shared_ptr<const Scheduler> scheduler_;
  int64_t steps_ = 0;
  double lr_;
};

// The registered scheduler `name` with spec.params parsed (warm-up keys included); unknown names,
// unknown keys and bad values are one-line errors naming them.
absl::StatusOr<LrSchedule> MakeLrSchedule(const std::string& name, const SchedulerSpec& spec);

// Shared checks for factories: "<name>: <key>=<value> must be ..." errors.
absl::Status RequirePositive(const std::string& scheduler, const std::string& key, double value);
absl::Status RequireInRange(const std::string& scheduler, const std::string& key, double value, double low,
                            double high);

}  // namespace qres::sched

namespace qres {
template <>
struct RegistryKind<sched::Scheduler> {
  static constexpr const char* kName = "scheduler";
};
}  // namespace qres

// Registers a scheduler factory:
//   absl::StatusOr<std::unique_ptr<Scheduler>> Make(const SchedulerSpec&, Params&);
#define QRES_REGISTER_SCHEDULER(name, help, factory) \
  QRES_REGISTER_COMPONENT(::qres::sched::SchedulerRegistry, name, help, factory)

#endif  // QRES_SCHED_SCHEDULER_H_
