#include "qres/io/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "qres/base/status_macros.h"

namespace qres::io {

namespace {

// WriteFileAtomically's temporary beside a file: "<name>.tmp.<pid>".
constexpr char kTemporarySuffix[] = ".tmp.";

// Whether `path` (`named` so in errors) can be read as a file: NotFound when nothing is there,
// an error when a folder or a device or socket is (a device that never ends, /dev/zero, would
// exhaust memory), and a FIFO only where `pipes`.
// KindOf's answer, or 0 and the errno of a path that cannot be resolved in `error`.
PathKind KindOrError(const std::string& path, int& error) {
  error = 0;
  struct stat status;
  if (stat(path.c_str(), &status) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return PathKind::kMissing;
    error = errno;
    return PathKind::kOther;
  }
  if (S_ISREG(status.st_mode)) return PathKind::kFile;
  if (S_ISDIR(status.st_mode)) return PathKind::kDirectory;
  if (S_ISFIFO(status.st_mode)) return PathKind::kFifo;
  return PathKind::kOther;
}

absl::Status CheckReadable(const std::string& path, const std::string& named, bool pipes) {
  int error = 0;
  switch (KindOrError(path, error)) {
    case PathKind::kFile:
      return absl::OkStatus();
    case PathKind::kMissing:
      return absl::NotFoundError(absl::StrCat(named, ": not found"));
    case PathKind::kDirectory:
      return absl::FailedPreconditionError(absl::StrCat(named, ": is a folder, not a file"));
    case PathKind::kFifo:
      if (pipes) return absl::OkStatus();
      return absl::FailedPreconditionError(absl::StrCat(named, ": a FIFO, not a regular file (it might never end)"));
    case PathKind::kOther:
      break;
  }
  if (error != 0) return absl::FailedPreconditionError(absl::StrCat(named, ": ", std::strerror(error)));  // a loop
  return absl::FailedPreconditionError(absl::StrCat(named, ": not a file (a device or socket)"));
}

}  // namespace

bool FileExists(const std::string& path) { return CheckRegularFile(path, "").ok(); }

absl::Status CheckRegularFile(const std::string& path, const std::string& what) {
  return CheckReadable(path, what.empty() ? path : absl::StrCat(what, " ", path), /*pipes=*/false);
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == ".") return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

namespace {

// Writes `bytes` into `file` and closes it, naming `path` and the first error.
absl::Status WriteAndClose(std::FILE* file, const std::string& path, const std::string& bytes, bool sync) {
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size() && std::fflush(file) == 0 &&
            (!sync || fsync(fileno(file)) == 0);  // a FIFO or device has nothing to sync
  int error = ok ? 0 : errno;
  if (std::fclose(file) != 0 && ok) {
    ok = false;
    error = errno;
  }
  if (!ok) return absl::DataLossError(absl::StrCat(path, ": write failed: ", std::strerror(error)));
  return absl::OkStatus();
}

// One file of a set on its way: written to `temporary` beside its target, or (a device, FIFO or
// socket, or a link to nothing yet) to be written as a stream in place.
struct PendingFile {
  const std::string* path;
  const std::string* bytes;
  std::string target;     // the path, or a symbolic link's target, that the rename replaces
  std::string temporary;  // empty for a stream
  bool device = false;
};

void RemoveTemporaries(const std::vector<PendingFile>& pending, size_t from) {
  for (size_t i = from; i < pending.size(); ++i) {
    if (!pending[i].temporary.empty()) std::remove(pending[i].temporary.c_str());
  }
}

// Writes the file's temporary copy (fsynced), or for a stream only decides that it is one.
absl::Status Prepare(PendingFile& file) {
  const std::string& path = *file.path;
  file.target = path;
  struct stat status, link;
  const bool exists = stat(path.c_str(), &status) == 0;
  if (exists && S_ISDIR(status.st_mode)) return absl::FailedPreconditionError(absl::StrCat(path, ": is a directory"));
  // A device, FIFO or socket (/dev/null, a pipe to another program) is written as a stream, since a
  // rename would replace it with a regular file; so is a link to nothing yet, which makes its target.
  file.device = exists && !S_ISREG(status.st_mode);
  if (file.device || (!exists && lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode))) return absl::OkStatus();
  if (exists) {  // through a symbolic link to a regular file, the link stays and its target is replaced
    std::error_code error;
    const std::filesystem::path resolved = std::filesystem::canonical(path, error);
    if (!error) file.target = resolved.string();
  }
  const std::string temporary = absl::StrCat(file.target, kTemporarySuffix, getpid());
  std::FILE* out = std::fopen(temporary.c_str(), "wb");
  if (out == nullptr) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  if (absl::Status written = WriteAndClose(out, path, *file.bytes, /*sync=*/true); !written.ok()) {
    std::remove(temporary.c_str());
    return written;
  }
  file.temporary = temporary;
  return absl::OkStatus();
}

// Puts the file in place: the rename of its temporary copy, or the stream's write.
absl::Status Commit(const PendingFile& file) {
  const std::string& path = *file.path;
  if (file.temporary.empty()) {
    std::FILE* out = std::fopen(path.c_str(), "wb");
    if (out == nullptr)
      return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
    return WriteAndClose(out, path, *file.bytes, /*sync=*/!file.device);
  }
  if (std::rename(file.temporary.c_str(), file.target.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot rename into place: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFilesAtomically(const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<PendingFile> pending(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    pending[i].path = &files[i].first;
    pending[i].bytes = &files[i].second;
    if (absl::Status prepared = Prepare(pending[i]); !prepared.ok()) {
      RemoveTemporaries(pending, 0);
      return prepared;
    }
  }
  for (size_t i = 0; i < pending.size(); ++i) {
    if (absl::Status committed = Commit(pending[i]); !committed.ok()) {
      RemoveTemporaries(pending, i);
      return committed;
    }
  }
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  return WriteFilesAtomically({{path, bytes}});
}

namespace {

// ReadWholeFile, or with `pipes` false ReadRegularFile.
absl::StatusOr<std::string> ReadFile(const std::string& path, bool pipes, int64_t max_bytes) {
  if (absl::Status readable = CheckReadable(path, path, pipes);
      !readable.ok() && !absl::IsNotFound(readable)) {  // missing: the open below says why
    return readable;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  std::string bytes;
  char buffer[1 << 16];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    bytes.append(buffer, static_cast<size_t>(in.gcount()));
    if (static_cast<int64_t>(bytes.size()) > max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": more than ", max_bytes, " bytes (an endless pipe?); it is read whole into memory"));
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed: ", std::strerror(errno)));
  return bytes;
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, int64_t max_bytes) {
  return ReadFile(path, /*pipes=*/true, max_bytes);
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path) {
  return ReadFile(path, /*pipes=*/false, kNoReadBound);
}

absl::StatusOr<PathKind> KindOf(const std::string& path) {
  int error = 0;
  const PathKind kind = KindOrError(path, error);
  if (error != 0) return absl::FailedPreconditionError(absl::StrCat(path, ": ", std::strerror(error)));
  return kind;
}

absl::StatusOr<std::vector<DirectoryEntry>> ListDirectory(const std::string& dir) {
  const std::string opened = dir.empty() ? "." : dir;
  DIR* stream = opendir(opened.c_str());
  if (stream == nullptr)
    return absl::FailedPreconditionError(absl::StrCat(opened, ": cannot list: ", std::strerror(errno)));
  std::vector<DirectoryEntry> entries;
  int error = 0;
  for (;;) {
    errno = 0;  // readdir's end and its failure differ only in errno
    const dirent* entry = readdir(stream);
    if (entry == nullptr) {
      error = errno;
      break;
    }
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    DirectoryEntry& added = entries.emplace_back();
    added.name = name;
    added.path = JoinPath(dir, name);
    int problem = 0;
    added.kind = KindOrError(added.path, problem);
    if (problem != 0) added.problem = std::strerror(problem);
  }
  closedir(stream);
  if (error != 0) return absl::DataLossError(absl::StrCat(opened, ": listing failed: ", std::strerror(error)));
  std::sort(entries.begin(), entries.end(),
            [](const DirectoryEntry& a, const DirectoryEntry& b) { return a.name < b.name; });
  return entries;
}

absl::StatusOr<std::unique_ptr<ExclusiveLock>> ExclusiveLock::Acquire(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);  // CLOEXEC: no child holds it
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {};
    const ssize_t read_bytes = pread(fd, holder, sizeof(holder) - 1, 0);
    close(fd);
    const std::string pid(absl::StripAsciiWhitespace(read_bytes > 0 ? holder : ""));
    return absl::FailedPreconditionError(absl::StrCat(path, " is held by process ", pid.empty() ? "(unknown)" : pid));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The lock holds all the same; only the holder's name is missing.
  }
  return std::unique_ptr<ExclusiveLock>(new ExclusiveLock(fd));
}

ExclusiveLock::~ExclusiveLock() { close(fd_); }

absl::Status CheckOutputName(const std::string& path, const std::string& what) {
  const size_t slash = path.rfind('/');
  const std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  constexpr size_t kPidDigits = 10;  // a pid_t's decimal digits at most
  const size_t room = NAME_MAX - (sizeof(kTemporarySuffix) - 1) - kPidDigits;
  if (name.size() <= room) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(what, " ", path, ": the file name is ", name.size(),
                                                 " bytes; at most ", room, " leave room for its temporary (",
                                                 kTemporarySuffix, "<pid>) within the file system's ", NAME_MAX));
}

void RemoveTemporaries(const std::string& dir, const std::string& prefix, TemporaryWriters writers) {
  absl::StatusOr<std::vector<DirectoryEntry>> entries = ListDirectory(dir);
  if (!entries.ok()) return;
  for (const DirectoryEntry& entry : *entries) {
    const size_t at = entry.name.rfind(kTemporarySuffix);
    if (!absl::StartsWith(entry.name, prefix) || at == std::string::npos || entry.kind != PathKind::kFile) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(entry.name.substr(at + sizeof(kTemporarySuffix) - 1), &pid) || pid <= 0) continue;
    const bool gone = kill(pid, 0) != 0 && errno == ESRCH;
    if (writers == TemporaryWriters::kAny || gone) std::remove(entry.path.c_str());
  }
}

absl::Status CheckWritableDirectory(const std::string& flag, const std::string& dir) {
  const std::string shown = absl::StrCat(flag, "=", dir);
  absl::StatusOr<PathKind> kind = KindOf(dir);
  if (!kind.ok()) return absl::FailedPreconditionError(absl::StrCat(flag, "=", kind.status().message()));
  std::error_code error;
  if (*kind != PathKind::kMissing) {
    if (*kind != PathKind::kDirectory) return absl::FailedPreconditionError(absl::StrCat(shown, ": not a directory"));
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(shown, ": not writable (", std::strerror(errno), ")"));
    }
    return absl::OkStatus();
  }
  // Missing: it can be made if its nearest existing ancestor is a writable directory.
  std::filesystem::path ancestor = std::filesystem::absolute(dir, error).parent_path();
  while (!ancestor.empty() && !std::filesystem::exists(ancestor, error) && ancestor != ancestor.parent_path()) {
    ancestor = ancestor.parent_path();
  }
  if (!std::filesystem::is_directory(ancestor, error)) {
    return absl::FailedPreconditionError(
        absl::StrCat(shown, ": cannot create it: ", ancestor.string(), " is not a directory"));
  }
  if (access(ancestor.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(shown, ": cannot create it: ", ancestor.string(),
                                                      " is not writable (", std::strerror(errno), ")"));
  }
  return absl::OkStatus();
}

absl::Status CreateOutputDirectory(const std::string& out_dir) {
  QRES_RETURN_IF_ERROR(CheckWritableDirectory("--out_dir", out_dir));
  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    return absl::FailedPreconditionError(absl::StrCat("--out_dir=", out_dir, ": cannot create it: ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace qres::io
