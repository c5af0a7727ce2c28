// Line charts written as PNG (libpng), with axes, ticks, labels and legends drawn in a built-in
// 5x7 font: the evaluator's plot of a run's curves per epoch, and the report's comparison of
// configurations (a line per configuration with its min-max band over seeds).
#ifndef QRES_IO_PLOT_H_
#define QRES_IO_PLOT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qres::io {

// One line of a panel, with an optional band around it (e.g. the min and max over seeds).
struct Series {
  std::string label;  // its legend entry; empty: none
  std::vector<double> y;
  std::vector<double> low, high;  // the band, as long as y; empty: none
};

struct Panel {
  std::string title;           // e.g. "loss"
  std::vector<double> y;       // one line (when `series` is empty)
  std::vector<Series> series;  // several lines, in the palette's colours
  std::vector<double> x;       // the points' x; empty: 1, 2, ... (epochs)
  std::string x_label = "epoch";
  bool log_x = false;  // falls back to a linear axis when an x is 0 or negative
};

// The panels side by side as a PNG image. Values that are not finite are left out of a line (the
// panel's title counts them); values near +-1e308 still plot.
absl::StatusOr<std::string> EncodePlotPng(const std::vector<Panel>& panels);

// EncodePlotPng, written to `path` atomically.
absl::Status WritePlotPng(const std::string& path, const std::vector<Panel>& panels);

}  // namespace qres::io

#endif  // QRES_IO_PLOT_H_
