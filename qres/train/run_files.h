// A run's files in its --out_dir (named after the seed's <Net><Algo><Epochs>), the claim one
// process holds on them, and its TensorBoard folder.
//
//   const RunFiles files = RunFiles::For(out_dir, "CNNQtAdamW5");  // files.checkpoint, ...
//   QRES_ASSIGN_OR_RETURN(auto lock, RunLock::Acquire(out_dir, "CNNQtAdamW5", files.All()));
#ifndef QRES_TRAIN_RUN_FILES_H_
#define QRES_TRAIN_RUN_FILES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "qres/io/files.h"

namespace qres::train {

struct RunFiles {
  std::string model, log, error, metrics, checkpoint;

  static RunFiles For(const std::string& out_dir, const std::string& run);
  std::vector<std::string> All() const { return {model, log, error, metrics, checkpoint}; }
};

// The metrics file of the run whose error trend file is `error_file` (error_<run>.pickle ->
// metrics_<run>.jsonl, in the same folder); "" when the name is not an error trend file's.
std::string MetricsFileBeside(const std::string& error_file);

// The checkpoints in `out_dir` of runs named <net_and_algorithm><epochs>, sorted.
std::vector<std::string> CheckpointsOf(const std::string& out_dir, const std::string& net_and_algorithm);

// Where a run's TensorBoard files go: <out_dir>/tensorboard/<run> when `tensorboard` is empty
// (the run's name is unique in its out_dir); in a --tensorboard folder that runs of several
// out_dirs share (a sweep's seeds, or runs of one name in two folders),
// <tensorboard>/<run>_<8 hex digits of the out_dir's absolute path>, so no run clears another's.
std::string EventDir(const std::string& tensorboard, const std::string& out_dir, const std::string& run);

// An exclusive claim on one run's outputs in a folder, held while it lives (io::ExclusiveLock on
// "<dir>/.<run>.lock", which the kernel drops when the process dies, however it dies). On
// acquiring it, temporary files that killed runs left beside `files` (all in `dir`) are removed.
class RunLock {
 public:
  // FailedPrecondition naming the run and the folder when another process holds it.
  static absl::StatusOr<std::unique_ptr<RunLock>> Acquire(const std::string& dir, const std::string& run,
                                                          const std::vector<std::string>& files);
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  explicit RunLock(std::unique_ptr<io::ExclusiveLock> lock) : lock_(std::move(lock)) {}
  std::unique_ptr<io::ExclusiveLock> lock_;
};

}  // namespace qres::train

#endif  // QRES_TRAIN_RUN_FILES_H_
