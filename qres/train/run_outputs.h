// A run's outputs in its --out_dir, as one concern of a training run: their names, the checkpoint
// the run continues from, and the claim one process holds on them (TrainingRun holds one).
//
//   QRES_ASSIGN_OR_RETURN(RunOutputs outputs, RunOutputs::Find(config));  // names, checkpoint to resume
//   ... load outputs.resume_checkpoint() if any ...
//   QRES_RETURN_IF_ERROR(outputs.Claim(config));  // rank 0, once everything else checked out
#ifndef QRES_TRAIN_RUN_OUTPUTS_H_
#define QRES_TRAIN_RUN_OUTPUTS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qres/train/run_files.h"
#include "qres/train/train_config.h"

namespace qres::train {

class RunOutputs {
 public:
  RunOutputs() = default;

  // The run's files for `config` (its name is RunName(config)), and the checkpoint it continues
  // from: --resume's own (which must exist), --resume_from's, or none. Each state of the folder
  // gets one story: the run's files without a checkpoint, something else where the checkpoint goes,
  // or other checkpoints of the run for fewer epochs are errors that say what to do.
  static absl::StatusOr<RunOutputs> Find(const TrainConfig& config);

  // Makes the folder and claims the run's files for this process: a folder where a file goes,
  // another process writing the run, or an older run's files (without --overwrite; removed with it)
  // is an error, and nothing is left behind. Continuing the run's own checkpoint keeps its files.
  absl::Status Claim(const TrainConfig& config);

  const std::string& name() const { return name_; }
  const RunFiles& files() const { return files_; }
  // The checkpoint this run continues from; empty: a fresh start.
  const std::string& resume_checkpoint() const { return resume_checkpoint_; }
  // Whether the run continues its own checkpoint (--resume): its files so far are its own.
  bool continues_own_files() const { return !resume_checkpoint_.empty() && resume_checkpoint_ == files_.checkpoint; }

 private:
  std::string name_;
  RunFiles files_;
  std::string resume_checkpoint_;
  std::unique_ptr<RunLock> lock_;
};

}  // namespace qres::train

#endif  // QRES_TRAIN_RUN_OUTPUTS_H_
