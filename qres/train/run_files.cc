#include "qres/train/run_files.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qres/io/files.h"
#include "qres/io/run_layout.h"

namespace qres::train {

RunFiles RunFiles::For(const std::string& out_dir, const std::string& run) {
  using io::run_layout::FileKind;
  auto file = [&](FileKind kind) { return io::run_layout::FileOf(kind, out_dir, run); };
  return {file(FileKind::kModel), file(FileKind::kOperationLog), file(FileKind::kErrorTrend), file(FileKind::kMetrics),
          file(FileKind::kCheckpoint)};
}

std::string MetricsFileBeside(const std::string& error_file) {
  const std::filesystem::path path(error_file);
  const std::string run = io::run_layout::RunOfFile(io::run_layout::FileKind::kErrorTrend, path.filename().string());
  return run.empty() ? "" : io::run_layout::MetricsFile(path.parent_path().string(), run);
}

std::vector<std::string> CheckpointsOf(const std::string& out_dir, const std::string& net_and_algorithm) {
  std::vector<std::string> found;
  absl::StatusOr<std::vector<io::DirectoryEntry>> entries = io::ListDirectory(out_dir);
  if (!entries.ok()) return found;  // no folder, no checkpoints
  for (const io::DirectoryEntry& entry : *entries) {
    // Only files: a folder or device of a checkpoint's name is nothing to resume from.
    if (entry.kind != io::PathKind::kFile) continue;
    const std::string run = io::run_layout::RunOfFile(io::run_layout::FileKind::kCheckpoint, entry.name);
    if (!absl::StartsWith(run, net_and_algorithm)) continue;
    const absl::string_view epochs = absl::string_view(run).substr(net_and_algorithm.size());
    if (!epochs.empty() && std::all_of(epochs.begin(), epochs.end(), absl::ascii_isdigit)) found.push_back(entry.path);
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::string EventDir(const std::string& tensorboard, const std::string& out_dir, const std::string& run) {
  if (tensorboard.empty()) return io::JoinPath(io::JoinPath(out_dir, "tensorboard"), run);
  std::error_code error;
  std::filesystem::path dir = std::filesystem::weakly_canonical(std::filesystem::absolute(out_dir, error), error);
  if (error) dir = std::filesystem::absolute(out_dir, error);
  uint64_t hash = 14695981039346656037ull;  // FNV-1a: the same name on every machine and run
  for (const unsigned char c : dir.lexically_normal().string()) hash = (hash ^ c) * 1099511628211ull;
  return io::JoinPath(tensorboard, absl::StrFormat("%s_%08x", run, static_cast<uint32_t>(hash ^ (hash >> 32))));
}

absl::StatusOr<std::unique_ptr<RunLock>> RunLock::Acquire(const std::string& dir, const std::string& run,
                                                          const std::vector<std::string>& files) {
  absl::StatusOr<std::unique_ptr<io::ExclusiveLock>> lock =
      io::ExclusiveLock::Acquire(io::JoinPath(dir, absl::StrCat(".", run, ".lock")));
  if (absl::IsFailedPrecondition(lock.status())) {
    return absl::FailedPreconditionError(absl::StrCat("another process is writing run ", run, " in ",
                                                      dir.empty() ? "." : dir, " (", lock.status().message(), ")"));
  }
  if (!lock.ok()) return lock.status();
  // Holding the lock, no live process writes the run's files: any temporary beside them (in `dir`,
  // WriteFileAtomically's "<file>.tmp.<pid>") is a killed run's.
  for (const std::string& file : files) {
    io::RemoveTemporaries(dir, std::filesystem::path(file).filename().string(), io::TemporaryWriters::kAny);
  }
  return std::unique_ptr<RunLock>(new RunLock(*std::move(lock)));
}

}  // namespace qres::train
