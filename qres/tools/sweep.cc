// sweep: runs train over a grid of flags, each run in its own folder, one after another or
// --jobs at a time (qres/sweep/sweep.h). Stopped or crashed, the same command continues.
//
//   bazel run -c opt //qres/tools:sweep -- --out_dir=sweeps/fmnist
//       --grid='algo=QtAdamW|AdamW|QSGD|SGD;seed=1|2|3' -- --net=CNN --epochs=5   (one command line)
//   bazel run -c opt //qres/tools:report -- sweeps/fmnist
#include "qres/sweep/sweep.h"

#include <filesystem>
#include <string>
#include <vector>

#include "gflags/gflags.h"
#include "qres/tools/cli.h"

DEFINE_string(grid, "",
              "the grid: axes of train flags, key=value1|value2|... separated by ';', e.g. "
              "'algo=QtAdamW|AdamW;lr=0.001|0.01;seed=1|2|3'");
DEFINE_string(grid_file, "",
              "a file with one axis key=value1|value2|... per line ('#' starts a comment); "
              "added to --grid");
DEFINE_string(out_dir, "sweep", "folder of the sweep: one subfolder per run, named after its grid values");
DEFINE_int32(jobs, 1,
             "runs at a time; each gets its share of the CPU threads (unless --threads is given "
             "after --)");
DEFINE_string(train, "", "the train binary; empty: the one beside this binary");
DEFINE_bool(dry_run, false, "print the runs and whether each is done, then exit");

namespace {

qres::sweep::SweepOptions OptionsFromFlags(const std::vector<std::string>& train_flags) {
  qres::sweep::SweepOptions options;
  options.grid = FLAGS_grid;
  options.grid_file = FLAGS_grid_file;
  options.out_dir = FLAGS_out_dir;
  options.jobs = FLAGS_jobs;
  std::error_code error;  // without /proc, Sweep says there is no train binary at "train"
  options.train = !FLAGS_train.empty()
                      ? FLAGS_train
                      : (std::filesystem::read_symlink("/proc/self/exe", error).parent_path() / "train").string();
  options.dry_run = FLAGS_dry_run;
  options.train_flags = train_flags;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  return qres::tools::RunToolWithArguments(
      "sweep", argc, argv,
      "sweep: runs train over a grid of flags, each run in its own folder; the same command continues a\n"
      "stopped sweep (finished runs are skipped, interrupted ones resume).\n"
      "Usage: bazel run -c opt //qres/tools:sweep -- --grid='key=v1|v2;key2=...' [flags] -- [train flags for every "
      "run]\n"
      "  e.g. --out_dir=sweeps/fmnist --grid='algo=QtAdamW|AdamW|QSGD|SGD;seed=1|2|3' -- --net=CNN --epochs=5",
      "/sweep.cc",
      [](const std::vector<std::string>& train_flags) { return qres::sweep::Sweep(OptionsFromFlags(train_flags)); });
}
