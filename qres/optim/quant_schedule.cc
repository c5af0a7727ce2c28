#include "qres/optim/quant_schedule.h"

#include <algorithm>
#include <cmath>

namespace qres::optim {

double BumpResolution(int64_t index) { return std::ldexp(1.0, static_cast<int>(std::max<int64_t>(index, 0))); }

int64_t AdvanceIndex(int64_t n, int64_t limit, bool checked, const std::function<bool(int64_t)>& is_zero) {
  if (!checked) return n;
  while (n <= limit && is_zero(n)) ++n;
  return n;
}

std::vector<int64_t> ResolveBumpIndices(int64_t start, int64_t limit, const std::vector<bool>& checked,
                                        const std::function<bool(size_t, int64_t)>& is_zero) {
  std::vector<int64_t> indices(checked.size());
  int64_t n = start;
  for (size_t i = 0; i < checked.size(); ++i) {
    n = AdvanceIndex(n, limit, checked[i], [&](int64_t k) { return is_zero(i, k); });
    indices[i] = n;
  }
  return indices;
}

double LogResolution(const QuantizerOptions& options, int64_t step) {
  const double te = static_cast<double>(step) / options.batches_per_epoch;
  const double p = std::floor(std::log(std::log(te + 2.0)) / std::log(options.base));
  return options.eta * std::pow(options.base, p);
}

double OffsetScale(const QuantizerOptions& options, int64_t step, double lambda) {
  if (!options.offset) return 0.0;
  const double te = static_cast<double>(step) / options.batches_per_epoch;
  const double tau0 = static_cast<double>(options.epochs) * options.warmup;
  const double s = 0.5 * (1.0 + std::tanh(-options.kappa * (te - tau0)));
  return s * lambda;
}

double OffsetFactor(const QuantizerOptions& options, int64_t step, double lambda, double norm) {
  if (!options.offset || !(norm > 0.0)) return 0.0;
  return OffsetScale(options, step, lambda) / norm;
}

}  // namespace qres::optim
