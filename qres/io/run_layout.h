// Where a run's and a sweep's files are, and what they are called: the one home of these names,
// for train (which writes them), report and sweep (which read them). A run is named after the
// seed's <Net><Algo><Epochs> ("CNNQtAdamW5").
//
//   const std::string checkpoint = run_layout::CheckpointFile(dir, "CNNQtAdamW5");
//   std::string run = run_layout::RunOfFile(run_layout::FileKind::kMetrics, "metrics_CNNQtAdamW5.jsonl");
//   QRES_ASSIGN_OR_RETURN(SweepStatus status, run_layout::ParseSweepStatus(text, path));
#ifndef QRES_IO_RUN_LAYOUT_H_
#define QRES_IO_RUN_LAYOUT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qres::io::run_layout {

// train's outputs in its --out_dir: the seed's model, operation log and error trend, and qres's
// metrics and checkpoint.
enum class FileKind { kModel, kOperationLog, kErrorTrend, kMetrics, kCheckpoint };

// "<dir>/<prefix><run><suffix>" (torch_nn02<run>.pt, operation_<run>.txt, error_<run>.pickle,
// metrics_<run>.jsonl, checkpoint_<run>.pt).
std::string FileOf(FileKind kind, const std::string& dir, const std::string& run);
inline std::string ModelFile(const std::string& dir, const std::string& run) {
  return FileOf(FileKind::kModel, dir, run);
}
inline std::string MetricsFile(const std::string& dir, const std::string& run) {
  return FileOf(FileKind::kMetrics, dir, run);
}
inline std::string CheckpointFile(const std::string& dir, const std::string& run) {
  return FileOf(FileKind::kCheckpoint, dir, run);
}

// The run a file name (no folder) belongs to as a file of `kind`, or "" when it is not one.
std::string RunOfFile(FileKind kind, const std::string& name);

// The records of a checkpoint that report reads besides train: the run's settings (key=value
// lines) and its metrics (metrics_<run>.jsonl's lines).
inline constexpr char kSettingsRecord[] = "settings";
inline constexpr char kMetricsRecord[] = "metrics";

// A sweep's files in each run's folder: the run's status and its train's output.
std::string SweepStatusFile(const std::string& run_dir);
std::string SweepOutputFile(const std::string& run_dir);

// sweep.json: what the sweep knows of one run. Written before the run starts ("started"), and when
// it ends ("finished" or "failed", with train's exit code and the seconds it took).
struct SweepStatus {
  std::string run;     // the run's folder name
  std::string status;  // started, finished or failed
  int exit_code = 0;
  double seconds = 0;
  std::vector<std::string> flags;  // train's flags (the grid's, then the sweep's after --)
};
// One line of JSON, e.g. {"run": "seed=1", "status": "finished", "exit": 0, "seconds": 3.5,
// "flags": ["--seed=1"]}.
std::string SweepStatusJson(const SweepStatus& status);
// The reverse; a file that is not one is an error naming `path`.
absl::StatusOr<SweepStatus> ParseSweepStatus(const std::string& text, const std::string& path);

}  // namespace qres::io::run_layout

#endif  // QRES_IO_RUN_LAYOUT_H_
