#include "qres/io/metrics.h"

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "qres/base/status_macros.h"

namespace qres::io {
namespace {

// The number after "<key>": in a metrics line; nullopt for null; an error when absent.
absl::StatusOr<std::optional<double>> Field(absl::string_view line, absl::string_view key, const std::string& where) {
  const std::string quoted = absl::StrCat("\"", key, "\": ");
  const size_t at = line.find(quoted);
  if (at == absl::string_view::npos) return absl::DataLossError(absl::StrCat(where, ": no \"", key, "\""));
  absl::string_view rest = line.substr(at + quoted.size());
  rest = rest.substr(0, rest.find_first_of(",}"));
  if (rest == "null") return std::optional<double>();
  double value;
  if (!absl::SimpleAtod(rest, &value)) {
    return absl::DataLossError(absl::StrCat(where, ": \"", key, "\" is '", rest, "', not a number"));
  }
  return std::optional<double>(value);
}

}  // namespace

std::string MetricsLine(const EpochMetrics& m) {
  return absl::StrFormat(
      "{\"epoch\": %d, \"loss\": %.9g, \"train_accuracy\": %.6f, \"test_accuracy\": %.6f, "
      "\"lr\": %.9g, \"quant_index\": %s, \"seconds\": %.3f, \"images_per_second\": %.1f}\n",
      m.epoch, m.loss, m.train_accuracy, m.test_accuracy, m.lr,
      m.quant_index.has_value() ? absl::StrFormat("%.6g", *m.quant_index) : "null", m.seconds, m.images_per_second);
}

absl::StatusOr<std::vector<EpochMetrics>> ParseMetrics(const std::string& text, const std::string& source) {
  std::vector<EpochMetrics> epochs;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    absl::ConsumeSuffix(&line, "\r");  // a file that passed through an editor with CRLF line ends
    if (line.empty()) continue;
    const std::string where = absl::StrCat(source, " line ", line_number);
    if (line.front() != '{' || line.back() != '}') {
      return absl::DataLossError(absl::StrCat(where, ": not a complete JSON object (cut off?)"));
    }
    EpochMetrics m;
    double* numbers[] = {&m.loss, &m.train_accuracy, &m.test_accuracy, &m.lr, &m.seconds};
    const char* keys[] = {"loss", "train_accuracy", "test_accuracy", "lr", "seconds"};
    for (int i = 0; i < 5; ++i) {
      QRES_ASSIGN_OR_RETURN(const std::optional<double> value, Field(line, keys[i], where));
      if (!value) return absl::DataLossError(absl::StrCat(where, ": \"", keys[i], "\" is null"));
      // What train writes; anything else (nan, inf, an accuracy of 33.6) would become a report's
      // "inf ± -nan" or "3360.00 %" cell.
      const bool is_accuracy = i == 1 || i == 2;
      if (!std::isfinite(*value) || *value < 0 || (is_accuracy && *value > 1)) {
        return absl::DataLossError(absl::StrCat(where, ": \"", keys[i], "\" is ", *value, ", not ",
                                                is_accuracy ? "an accuracy in [0, 1]" : "a finite number >= 0"));
      }
      *numbers[i] = *value;
    }
    QRES_ASSIGN_OR_RETURN(const std::optional<double> epoch, Field(line, "epoch", where));
    if (!epoch || *epoch != static_cast<double>(epochs.size() + 1)) {
      return absl::DataLossError(absl::StrCat(where, ": epoch ", epoch.value_or(-1), ", expected ", epochs.size() + 1));
    }
    m.epoch = static_cast<int64_t>(*epoch);
    QRES_ASSIGN_OR_RETURN(m.quant_index, Field(line, "quant_index", where));
    if (m.quant_index && !(std::isfinite(*m.quant_index) && *m.quant_index >= 0)) {
      return absl::DataLossError(absl::StrCat(where, ": \"quant_index\" is ", *m.quant_index, ", not an index >= 0"));
    }
    // Absent in an older train's files.
    if (absl::StatusOr<std::optional<double>> speed = Field(line, "images_per_second", where); speed.ok() && *speed) {
      m.images_per_second = **speed;
    }
    epochs.push_back(m);
  }
  return epochs;
}

}  // namespace qres::io
