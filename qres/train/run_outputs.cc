#include "qres/train/run_outputs.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "qres/base/status_macros.h"
#include "qres/io/files.h"

namespace qres::train {
namespace {

absl::StatusOr<std::string> CheckpointToResume(const TrainConfig& config, const std::string& run,
                                               const RunFiles& files) {
  if (!config.resume_from.empty()) {
    if (access(config.resume_from.c_str(), R_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("--resume_from=", config.resume_from, ": ", std::strerror(errno)));
    }
    return config.resume_from;
  }
  if (!config.resume) return std::string();
  QRES_ASSIGN_OR_RETURN(const io::PathKind kind, io::KindOf(files.checkpoint));
  if (kind == io::PathKind::kFile) return files.checkpoint;
  if (kind != io::PathKind::kMissing) {
    return absl::FailedPreconditionError(absl::StrCat("--resume: ", files.checkpoint,
                                                      " is not a file (a folder or device stands where run ", run,
                                                      "'s checkpoint goes); move it away"));
  }
  // The run's own files without its checkpoint: it stopped before its first; it starts again.
  std::vector<std::string> existing;
  for (const std::string& file : files.All()) {
    if (io::FileExists(file)) existing.push_back(file);
  }
  if (!existing.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "--resume: run ", run, " in ", config.out_dir.empty() ? "." : config.out_dir,
        " has no checkpoint to continue from (it stopped before its first, or it was removed), only ", existing.size(),
        " of its files, e.g. ", existing.front(), "; start it again with --overwrite instead of --resume"));
  }
  // The run's name holds its epoch count, so a run asked for more epochs looks for another file.
  const std::vector<std::string> others = CheckpointsOf(config.out_dir, absl::StrCat(config.net, config.algorithm));
  return absl::NotFoundError(
      absl::StrCat("--resume: no checkpoint ", files.checkpoint, " for run ", run,
                   others.empty() ? absl::StrCat("; start it without --resume")
                                  : absl::StrCat("; ", config.out_dir, " holds ", absl::StrJoin(others, ", "),
                                                 ": continue one for more epochs with --resume_from=", others.back(),
                                                 " --epochs=", config.epochs)));
}

}  // namespace

absl::StatusOr<RunOutputs> RunOutputs::Find(const TrainConfig& config) {
  RunOutputs outputs;
  outputs.name_ = RunName(config);
  outputs.files_ = RunFiles::For(config.out_dir, outputs.name_);
  QRES_ASSIGN_OR_RETURN(outputs.resume_checkpoint_, CheckpointToResume(config, outputs.name_, outputs.files_));
  return outputs;
}

absl::Status RunOutputs::Claim(const TrainConfig& config) {
  // Made only now that everything else checked out: a bad flag leaves nothing behind.
  QRES_RETURN_IF_ERROR(io::CreateOutputDirectory(config.out_dir));
  // The run's outputs are one set: one process writes them, and a new run never mixes its files
  // with an older run's of the same name.
  const std::vector<std::string> outputs = files_.All();
  for (const std::string& file : outputs) {  // found now, not when the first epoch's files are written
    QRES_ASSIGN_OR_RETURN(const io::PathKind kind, io::KindOf(file));
    if (kind == io::PathKind::kDirectory) {
      return absl::FailedPreconditionError(absl::StrCat(file, ": a folder stands where the run writes this file"));
    }
  }
  QRES_ASSIGN_OR_RETURN(lock_, RunLock::Acquire(config.out_dir, name_, outputs));
  if (continues_own_files()) return absl::OkStatus();  // continuing this run's own files
  std::vector<std::string> existing;
  for (const std::string& file : outputs) {
    if (io::FileExists(file)) existing.push_back(file);
  }
  if (!existing.empty() && !config.overwrite) {
    // --resume is offered only where there is a checkpoint to continue from (CheckpointToResume).
    const bool resumable = io::FileExists(files_.checkpoint);
    return absl::FailedPreconditionError(
        absl::StrCat("--out_dir=", config.out_dir, " already holds run ", name_, " (", existing.size(),
                     " of its files, e.g. ", existing.front(),
                     resumable ? "); give --resume to continue it, --overwrite to replace it"
                               : ", but no checkpoint to continue from); give --overwrite to start it again",
                     ", or another --out_dir"));
  }
  for (const std::string& file : existing) std::remove(file.c_str());
  return absl::OkStatus();
}

}  // namespace qres::train
