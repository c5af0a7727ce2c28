// A sweep: train run over a grid of flags, each run in its own folder (named after its grid
// values), one after another or `jobs` at a time. Stopped or crashed, the same options continue
// it: finished runs are skipped and an interrupted run resumes from its checkpoint. A failed run
// is reported and the rest go on.
//
//   SweepOptions options;
//   options.grid = "algo=QtAdamW|AdamW;seed=1|2|3";
//   options.out_dir = "sweeps/fmnist";
//   options.train = "bazel-bin/qres/tools/train";
//   options.train_flags = {"--net=CNN", "--epochs=5"};
//   QRES_RETURN_IF_ERROR(Sweep(options));  // then: report sweeps/fmnist
#ifndef QRES_SWEEP_SWEEP_H_
#define QRES_SWEEP_SWEEP_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace qres::sweep {

struct SweepOptions {
  std::string grid;       // axes of train flags: key=value1|value2|... separated by ';'
  std::string grid_file;  // one axis per line ('#' starts a comment), added to `grid`
  std::string out_dir = "sweep";
  int jobs = 1;                          // runs at a time; each gets its share of the CPU threads
  std::string train;                     // the train binary
  bool dry_run = false;                  // print the runs and whether each is done, run nothing
  std::vector<std::string> train_flags;  // for every run (the tool's arguments after --)
};

// Checks the grid and the flags against train --help and the registries before anything runs.
// SIGINT and SIGTERM stop it (Cancelled, after the running runs wrote their checkpoints); a run
// that failed makes it Aborted once the others are done.
absl::Status Sweep(const SweepOptions& options);

}  // namespace qres::sweep

#endif  // QRES_SWEEP_SWEEP_H_
