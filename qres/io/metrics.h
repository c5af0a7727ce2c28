// A run's metrics file, metrics_<run>.jsonl: one JSON object per epoch, written by train and read
// by report and test. One writer and one reader, so the three agree on the format.
//
//   {"epoch": 1, "loss": 0.512345678, "train_accuracy": 0.812300, "test_accuracy": 0.845600,
//    "lr": 0.001, "quant_index": 9, "seconds": 18.240, "images_per_second": 3289.5}
#ifndef QRES_IO_METRICS_H_
#define QRES_IO_METRICS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qres::io {

struct EpochMetrics {
  int64_t epoch = 0;  // from 1
  double loss = 0, train_accuracy = 0, test_accuracy = 0, lr = 0, seconds = 0, images_per_second = 0;
  std::optional<double> quant_index;  // null for unquantized algorithms
};

// One line of the file, with its newline.
std::string MetricsLine(const EpochMetrics& metrics);

// Every epoch of a metrics file's `text`, numbered 1, 2, ...; a line that is cut off, lacks a
// field or numbers its epoch otherwise is a DataLoss error naming `source` and the line.
absl::StatusOr<std::vector<EpochMetrics>> ParseMetrics(const std::string& text, const std::string& source);

}  // namespace qres::io

#endif  // QRES_IO_METRICS_H_
