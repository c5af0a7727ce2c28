// The quantizer's options: what the schedules and roundings are called, their ranges, parsing
// from --quant_params and the one-line description for logs. quantizer.h says what they do.
//
//   QRES_ASSIGN_OR_RETURN(Params params, Params::Parse("schedule=log,eta=64", "--quant_params"));
//   QRES_ASSIGN_OR_RETURN(QuantizerOptions options, QuantizerOptions::FromParams(params, defaults));
#ifndef QRES_OPTIM_QUANTIZER_OPTIONS_H_
#define QRES_OPTIM_QUANTIZER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qres/base/params.h"
#include "qres/optim/step_math.h"

namespace qres::optim {

using QuantSchedule = step_math::Schedule;
using step_math::Rounding;
enum class ZeroTest { kSum, kAllZero };
enum class IndexScope { kGlobal, kPerTensor };

std::string ToString(QuantSchedule schedule);
std::string ToString(Rounding rounding);

struct QuantizerOptions {
  QuantSchedule schedule = QuantSchedule::kBump;
  Rounding rounding = Rounding::kHalfUp;
  uint64_t seed = 0;  // stochastic rounding only

  // bump
  int64_t initial_index = 0;  // the seed's -qp: Q_p = 2^max(n, 0)
  ZeroTest zero_test = ZeroTest::kSum;
  IndexScope scope = IndexScope::kGlobal;
  int64_t index_limit = 32;      // n stops once it exceeds this (the reference's 32: n tops at 33)
  bool check_first_step = true;  // reference: QSGD false, QtAdam(W) true
  // An update that is zero before rounding (an lr of 0, a parameter with no gradient) rounds to
  // zero at every resolution: the reference bumps on it, to the limit; it carries no evidence for
  // a finer grid, so by default it bumps nothing.
  bool bump_on_zero_update = false;

  // log
  double base = 2.0;
  double eta = 524288.0;  // 2^19
  double kappa = 2.0;
  double warmup = 0.2;  // fraction of `epochs` (G2: 0.2, G2': 0.5)
  bool offset = true;   // the warm-up offset r
  int64_t batches_per_epoch = 0;
  int64_t epochs = 0;

  // Range checks; every error names the option and its value.
  [[nodiscard]] absl::Status Validate() const;

  // `defaults` overridden by the keys of `params` (schedule, rounding, seed, qp, zero_test, scope,
  // index_limit, check_first_step, bump_on_zero_update, base, eta, kappa, warmup, offset), then
  // validated. Unknown keys
  // are left for the caller's Params::CheckAllUsed().
  [[nodiscard]] static absl::StatusOr<QuantizerOptions> FromParams(Params& params, QuantizerOptions defaults);
  // One line for logs, e.g. "bump(qp=2, index_limit=32, zero_test=sum, scope=global,
  // check_first_step=true), half_up" (bump_on_zero_update is shown when on).
  std::string Describe() const;
};

}  // namespace qres::optim

#endif  // QRES_OPTIM_QUANTIZER_OPTIONS_H_
