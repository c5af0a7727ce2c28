// Output files that are never left half-written, in the formats the seed's users read.
#ifndef QRES_TOOLS_OUTPUTS_H_
#define QRES_TOOLS_OUTPUTS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qres::tools {

// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a reader sees
// the old file or the whole new one. What is not a regular file is never replaced: a device, FIFO
// or socket (/dev/null, a pipe) is written as a stream, a symbolic link keeps pointing where it
// did (its target is replaced), and a directory is an error.
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes);

absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

// A Python pickle (protocol 2) of a list of floats: pickle.load gives [0.51, 0.32, ...] without
// torch, unlike the reference's list of autograd-attached tensors.
std::string PickleFloatList(const std::vector<double>& values);

// Parses what PickleFloatList writes (and the plain protocol-2/3/4 float lists Python writes).
absl::StatusOr<std::vector<double>> UnpickleFloatList(const std::string& bytes,
                                                      const std::string& source);

// Whether files can be written into `dir` (made first if missing), without making anything: an
// error naming `flag`, the folder and why (a file in the way, not writable).
absl::Status CheckWritableDirectory(const std::string& flag, const std::string& dir);

// Makes --out_dir (and its parents) if missing, after CheckWritableDirectory.
absl::Status CreateOutputDirectory(const std::string& out_dir);

// An exclusive claim on one run's outputs in a folder, held while it lives (a flock on
// "<dir>/.<run>.lock", which the kernel drops when the process dies, however it dies). On
// acquiring it, temporary files that killed runs left beside `files` (all in `dir`) are removed.
class RunLock {
 public:
  // FailedPrecondition naming the run and the folder when another process holds it.
  static absl::StatusOr<std::unique_ptr<RunLock>> Acquire(const std::string& dir, const std::string& run,
                                                         const std::vector<std::string>& files);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  explicit RunLock(int fd) : fd_(fd) {}
  int fd_;
};

// "<dir>/<name>", or name alone for an empty dir.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace qres::tools

#endif  // QRES_TOOLS_OUTPUTS_H_
