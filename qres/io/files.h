// Files that are never left half-written, and the checks before a tool writes into a folder.
//
//   QRES_RETURN_IF_ERROR(io::CreateOutputDirectory(out_dir));
//   QRES_RETURN_IF_ERROR(io::WriteFileAtomically(io::JoinPath(out_dir, "a.txt"), text));
#ifndef QRES_IO_FILES_H_
#define QRES_IO_FILES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace qres::io {

// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a reader sees
// the old file or the whole new one. What is not a regular file is never replaced: a device, FIFO
// or socket (/dev/null, a pipe) is written as a stream, a symbolic link keeps pointing where it
// did (its target is replaced), and a directory is an error.
absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes);

// Writes several files as one set, each as WriteFileAtomically does: every new file is written
// in full beside its target before the first is renamed into place, so a failure on the way (a
// full disk) leaves the old set as it was. The renames go in the order given: a reader that trusts
// the last file sees the set either before or after.
absl::Status WriteFilesAtomically(const std::vector<std::pair<std::string, std::string>>& files);

// The bytes of a regular file or a pipe (--grid_file=<(...)); a folder or a device is an error, and
// so is more than `max_bytes` (an endless pipe would take all memory).
inline constexpr int64_t kNoReadBound = int64_t{1} << 34;  // 16 GiB: none that a file of ours meets
absl::StatusOr<std::string> ReadWholeFile(const std::string& path, int64_t max_bytes = kNoReadBound);

// The bytes of one of a tool's own files (sweep.json, a run's metrics): a regular file; a FIFO or
// device in its place is an error (it might never end), as is a folder.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path);

// What is at a path, following symbolic links. Every filesystem question goes through these
// (POSIX calls, no exceptions): std::filesystem's throwing forms abort a tool on a symbolic-link
// loop (//qres/io:no_throwing_filesystem_calls_test keeps them out).
enum class PathKind { kMissing, kFile, kDirectory, kFifo, kOther };
// kMissing when nothing is there; an error naming the path and why when it cannot be resolved (a
// symbolic-link loop, a permission).
absl::StatusOr<PathKind> KindOf(const std::string& path);

struct DirectoryEntry {
  std::string name;     // in the folder
  std::string path;     // JoinPath(dir, name)
  PathKind kind;        // KindOf(path); kOther also where it cannot be resolved:
  std::string problem;  // then why ("Too many levels of symbolic links")
};
// The entries of `dir` sorted by name, without "." and ".."; an error naming `dir` when it cannot
// be read.
absl::StatusOr<std::vector<DirectoryEntry>> ListDirectory(const std::string& dir);

// Whether a regular file (or a link to one) is at `path`: a folder or device in its place is not.
bool FileExists(const std::string& path);

// OK when a regular file (or a link to one) is at `path`; else an error "<what> <path>: " and why:
// not found, a folder, or a device or socket (/dev/zero would never end).
absl::Status CheckRegularFile(const std::string& path, const std::string& what);

// Whether files can be written into `dir` (made first if missing), without making anything: an
// error naming `flag`, the folder and why (a file in the way, not writable).
absl::Status CheckWritableDirectory(const std::string& flag, const std::string& dir);

// Makes --out_dir (and its parents) if missing, after CheckWritableDirectory.
absl::Status CreateOutputDirectory(const std::string& out_dir);

// OK when WriteFileAtomically can write `path`: its name leaves room for the temporary name beside
// it ("<name>.tmp.<pid>") within the file system's NAME_MAX bytes. Checked before the work whose
// result goes there, so a long name costs nothing; the error names `what` and the lengths.
absl::Status CheckOutputName(const std::string& path, const std::string& what);

// Removes the temporaries ("<name>.tmp.<pid>") that WriteFileAtomically left in `dir` beside files
// whose names begin with `prefix`, when a writer was killed between its write and its rename: those
// of any process (the caller holds a lock that every writer of those files takes), or only those
// whose process is gone.
enum class TemporaryWriters { kAny, kDead };
void RemoveTemporaries(const std::string& dir, const std::string& prefix, TemporaryWriters writers);

// An advisory lock (flock) on the file `path`, made if missing, held until destroyed; the holder
// writes its pid into it, so the next one to try can say who holds it.
class ExclusiveLock {
 public:
  // FailedPrecondition "<path> is held by process <pid>" when another process holds it.
  static absl::StatusOr<std::unique_ptr<ExclusiveLock>> Acquire(const std::string& path);
  ~ExclusiveLock();
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

 private:
  explicit ExclusiveLock(int fd) : fd_(fd) {}
  int fd_;
};

// "<dir>/<name>", or name alone for an empty dir.
std::string JoinPath(const std::string& dir, const std::string& name);

}  // namespace qres::io

#endif  // QRES_IO_FILES_H_
