// Line charts written as PNG (libpng), with axes, ticks and labels drawn in a built-in 5x7 font:
// the evaluator's plot of the error trend, test accuracy and quantization index per epoch.
#ifndef QRES_TOOLS_PLOT_H_
#define QRES_TOOLS_PLOT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qres::tools {

struct Panel {
  std::string title;        // e.g. "loss"
  std::vector<double> y;    // one value per epoch; x is 1, 2, ...
};

// Draws the panels side by side (x axis "epoch") and writes the image to `path` atomically.
absl::Status WritePlotPng(const std::string& path, const std::vector<Panel>& panels);

}  // namespace qres::tools

#endif  // QRES_TOOLS_PLOT_H_
