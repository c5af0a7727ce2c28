#include "qres/optim/quantizer_options.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"

namespace qres::optim {

std::string ToString(QuantSchedule schedule) {
  switch (schedule) {
    case QuantSchedule::kNone:
      return "none";
    case QuantSchedule::kBump:
      return "bump";
    case QuantSchedule::kLog:
      return "log";
  }
  return "?";
}

std::string ToString(Rounding rounding) {
  switch (rounding) {
    case Rounding::kHalfUp:
      return "half_up";
    case Rounding::kFloor:
      return "floor";
    case Rounding::kNearestEven:
      return "nearest_even";
    case Rounding::kStochastic:
      return "stochastic";
  }
  return "?";
}

absl::Status QuantizerOptions::Validate() const {
  auto bad = [](absl::string_view what) { return absl::InvalidArgumentError(what); };
  if (index_limit < 0 || index_limit > 64) {
    return bad(absl::StrCat("quantizer: index_limit=", index_limit, " is out of range [0, 64]"));
  }
  if (initial_index < -64 || initial_index > index_limit + 1) {
    return bad(absl::StrCat("quantizer: qp=", initial_index, " is out of range [-64, ", index_limit + 1,
                            "] (index_limit + 1)"));
  }
  if (schedule == QuantSchedule::kLog) {
    if (!(base > 1.0) || !std::isfinite(base)) {
      return bad(absl::StrCat("quantizer: base=", base, " must be a finite number > 1"));
    }
    if (!(eta > 0.0) || !std::isfinite(eta)) {
      return bad(absl::StrCat("quantizer: eta=", eta, " must be a finite number > 0"));
    }
    if (!(kappa >= 0.0) || !std::isfinite(kappa)) {
      return bad(absl::StrCat("quantizer: kappa=", kappa, " must be a finite number >= 0"));
    }
    if (!(warmup >= 0.0 && warmup <= 1.0)) {
      return bad(absl::StrCat("quantizer: warmup=", warmup, " must be in [0, 1]"));
    }
    if (batches_per_epoch <= 0) {
      return bad(absl::StrCat("quantizer: the log schedule needs batches_per_epoch > 0 (got ", batches_per_epoch, ")"));
    }
    if (epochs < 0) return bad(absl::StrCat("quantizer: epochs=", epochs, " must be >= 0"));
  }
  return absl::OkStatus();
}

absl::StatusOr<QuantizerOptions> QuantizerOptions::FromParams(Params& params, QuantizerOptions defaults) {
  QuantizerOptions o = defaults;
  QRES_ASSIGN_OR_RETURN(std::string schedule,
                        params.GetChoice("schedule", ToString(o.schedule), {"bump", "log", "none"}));
  o.schedule = schedule == "bump"  ? QuantSchedule::kBump
               : schedule == "log" ? QuantSchedule::kLog
                                   : QuantSchedule::kNone;
  // A key that only another schedule reads would be ignored silently: say so instead.
  const std::vector<std::pair<QuantSchedule, std::vector<std::string>>> schedule_keys = {
      {QuantSchedule::kBump, {"qp", "zero_test", "scope", "index_limit", "check_first_step", "bump_on_zero_update"}},
      {QuantSchedule::kLog, {"base", "eta", "kappa", "warmup", "offset"}}};
  for (const auto& [owner, keys] : schedule_keys) {
    if (owner == o.schedule) continue;
    for (const std::string& key : keys) {
      if (params.Has(key)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--quant_params: ", key, " is an option of schedule=", ToString(owner), ", not of schedule=", schedule));
      }
    }
  }
  if (o.schedule == QuantSchedule::kNone) {
    for (const std::string key : {"rounding", "seed"}) {
      if (params.Has(key)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--quant_params: ", key, " has no effect with schedule=none (nothing is quantized)"));
      }
    }
  }
  QRES_ASSIGN_OR_RETURN(std::string rounding, params.GetChoice("rounding", ToString(o.rounding),
                                                               {"half_up", "floor", "nearest_even", "stochastic"}));
  o.rounding = rounding == "half_up"        ? Rounding::kHalfUp
               : rounding == "floor"        ? Rounding::kFloor
               : rounding == "nearest_even" ? Rounding::kNearestEven
                                            : Rounding::kStochastic;
  QRES_ASSIGN_OR_RETURN(int64_t seed, params.GetInt("seed", static_cast<int64_t>(o.seed)));
  o.seed = static_cast<uint64_t>(seed);
  QRES_ASSIGN_OR_RETURN(o.initial_index, params.GetInt("qp", o.initial_index));
  QRES_ASSIGN_OR_RETURN(
      std::string zero_test,
      params.GetChoice("zero_test", o.zero_test == ZeroTest::kSum ? "sum" : "all_zero", {"sum", "all_zero"}));
  o.zero_test = zero_test == "sum" ? ZeroTest::kSum : ZeroTest::kAllZero;
  QRES_ASSIGN_OR_RETURN(
      std::string scope,
      params.GetChoice("scope", o.scope == IndexScope::kGlobal ? "global" : "per_tensor", {"global", "per_tensor"}));
  o.scope = scope == "global" ? IndexScope::kGlobal : IndexScope::kPerTensor;
  QRES_ASSIGN_OR_RETURN(o.index_limit, params.GetInt("index_limit", o.index_limit));
  QRES_ASSIGN_OR_RETURN(o.check_first_step, params.GetBool("check_first_step", o.check_first_step));
  QRES_ASSIGN_OR_RETURN(o.bump_on_zero_update, params.GetBool("bump_on_zero_update", o.bump_on_zero_update));
  QRES_ASSIGN_OR_RETURN(o.base, params.GetDouble("base", o.base));
  QRES_ASSIGN_OR_RETURN(o.eta, params.GetDouble("eta", o.eta));
  QRES_ASSIGN_OR_RETURN(o.kappa, params.GetDouble("kappa", o.kappa));
  QRES_ASSIGN_OR_RETURN(o.warmup, params.GetDouble("warmup", o.warmup));
  QRES_ASSIGN_OR_RETURN(o.offset, params.GetBool("offset", o.offset));
  QRES_RETURN_IF_ERROR(o.Validate());
  return o;
}

std::string QuantizerOptions::Describe() const {
  switch (schedule) {
    case QuantSchedule::kNone:
      return "none";
    case QuantSchedule::kBump:
      return absl::StrCat("bump(qp=", initial_index, ", index_limit=", index_limit,
                          ", zero_test=", zero_test == ZeroTest::kSum ? "sum" : "all_zero",
                          ", scope=", scope == IndexScope::kGlobal ? "global" : "per_tensor",
                          ", check_first_step=", check_first_step ? "true" : "false",
                          bump_on_zero_update ? ", bump_on_zero_update=true" : "", "), ", ToString(rounding));
    case QuantSchedule::kLog:
      return absl::StrCat("log(base=", base, ", eta=", eta, ", kappa=", kappa, ", warmup=", warmup,
                          ", offset=", offset ? "on" : "off", "), ", ToString(rounding));
  }
  return "?";
}

}  // namespace qres::optim
