// The grid of a sweep: axes of train flags, each with its values, and the runs they span.
//
//   --grid='algo=QtAdamW|AdamW;lr=0.001|0.01;seed=1|2|3'   (or one axis per line of --grid_file)
//
// gives 12 runs, the last axis varying fastest, each named after its values
// ("algo=QtAdamW,lr=0.001,seed=1": its folder in the sweep's --out_dir).
#ifndef QRES_SWEEP_GRID_H_
#define QRES_SWEEP_GRID_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace qres::sweep {

struct Axis {
  std::string key;                  // a train flag, without dashes
  std::vector<std::string> values;  // at least one
};

struct GridRun {
  std::string name;                // key=value,... in axis order ('/' in a value becomes '_')
  std::vector<std::string> flags;  // --key=value for train
};

// Parses axes "key=v1|v2|..." separated by ';' or newlines; '#' starts a comment line. `source`
// names the text in errors. An empty grid, an axis without values, a repeated key, a malformed
// axis, or two values of an axis that would be one run (one folder name: a/b and a_b; seed=1|1;
// QtAdamW and qtadamw, as train matches names) is an error naming it.
absl::StatusOr<std::vector<Axis>> ParseGrid(absl::string_view text, absl::string_view source);

// Every combination of the axes' values.
std::vector<GridRun> ExpandGrid(const std::vector<Axis>& axes);

}  // namespace qres::sweep

#endif  // QRES_SWEEP_GRID_H_
