#include "qres/tools/outputs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"

namespace qres::tools {

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

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  std::string target = path;
  struct stat status;
  if (stat(path.c_str(), &status) == 0) {
    if (S_ISDIR(status.st_mode)) return absl::FailedPreconditionError(absl::StrCat(path, ": is a directory"));
    if (!S_ISREG(status.st_mode)) {
      // A device, FIFO or socket (/dev/null, a pipe to another program) is written as a stream:
      // a rename would replace it with a regular file.
      std::FILE* file = std::fopen(path.c_str(), "wb");
      if (file == nullptr) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
      return WriteAndClose(file, path, bytes, /*sync=*/false);
    }
    // Through a symbolic link to a regular file: the link stays, its target is replaced.
    std::error_code error;
    const std::filesystem::path resolved = std::filesystem::canonical(path, error);
    if (!error) target = resolved.string();
  } else if (struct stat link; lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode)) {
    // A link to nothing yet: create its target through it.
    std::FILE* file = std::fopen(path.c_str(), "wb");
    if (file == nullptr) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
    return WriteAndClose(file, path, bytes, /*sync=*/true);
  }
  const std::string temporary = absl::StrCat(target, ".tmp.", getpid());
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot write: ", std::strerror(errno)));
  }
  if (absl::Status written = WriteAndClose(file, path, bytes, /*sync=*/true); !written.ok()) {
    std::remove(temporary.c_str());
    return written;
  }
  if (std::rename(temporary.c_str(), target.c_str()) != 0) {
    const int error = errno;
    std::remove(temporary.c_str());
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot rename into place: ", std::strerror(error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RunLock>> RunLock::Acquire(const std::string& dir, const std::string& run,
                                                          const std::vector<std::string>& files) {
  const std::string path = JoinPath(dir, absl::StrCat(".", run, ".lock"));
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::PermissionDeniedError(absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        "another process is writing run ", run, " in ", dir.empty() ? "." : dir, " (", path, " is locked)"));
  }
  // Holding the lock, no live process writes the run's files: any temporary beside them (in `dir`,
  // WriteFileAtomically's "<file>.tmp.<pid>") is a killed run's.
  std::vector<std::string> temporary_prefixes;
  for (const std::string& file : files) {
    temporary_prefixes.push_back(std::filesystem::path(file).filename().string() + ".tmp.");
  }
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir.empty() ? "." : dir, error)) {
    const std::string name = entry.path().filename().string();
    for (const std::string& prefix : temporary_prefixes) {
      if (absl::StartsWith(name, prefix)) std::filesystem::remove(entry.path(), error);
    }
  }
  return std::unique_ptr<RunLock>(new RunLock(fd));
}

RunLock::~RunLock() { close(fd_); }

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string PickleFloatList(const std::vector<double>& values) {
  std::string out = "\x80\x02]";  // PROTO 2, EMPTY_LIST
  if (!values.empty()) {
    out += '(';  // MARK
    for (double value : values) {
      out += 'G';  // BINFLOAT: big-endian IEEE double
      uint64_t bits;
      std::memcpy(&bits, &value, sizeof(bits));
      for (int shift = 56; shift >= 0; shift -= 8) out += static_cast<char>(bits >> shift);
    }
    out += 'e';  // APPENDS
  }
  out += '.';  // STOP
  return out;
}

absl::StatusOr<std::vector<double>> UnpickleFloatList(const std::string& bytes,
                                                      const std::string& source) {
  auto bad = [&](const std::string& why) {
    return absl::DataLossError(absl::StrCat(source, ": not a pickled list of floats (", why, ")"));
  };
  std::vector<double> values;
  size_t i = 0;
  auto need = [&](size_t n) { return i + n <= bytes.size(); };
  if (!need(2) || static_cast<unsigned char>(bytes[0]) != 0x80) return bad("no protocol header");
  i = 2;
  bool list = false;
  while (need(1)) {
    const unsigned char op = bytes[i++];
    switch (op) {
      case 0x95:  // FRAME (protocol 4): 8-byte length
        if (!need(8)) return bad("truncated frame");
        i += 8;
        break;
      case ']': list = true; break;
      case '(': break;
      case 'q': if (!need(1)) return bad("truncated"); i += 1; break;  // BINPUT
      case 'r': if (!need(4)) return bad("truncated"); i += 4; break;  // LONG_BINPUT
      case 0x94: break;                                                 // MEMOIZE
      case 'G': {
        if (!need(8)) return bad("truncated float");
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<unsigned char>(bytes[i + k]);
        double value;
        std::memcpy(&value, &bits, sizeof(value));
        values.push_back(value);
        i += 8;
        break;
      }
      case 'a': case 'e': break;  // APPEND, APPENDS
      case '.':
        if (!list) return bad("no list");
        return values;
      default:
        return bad(absl::StrCat("unsupported opcode 0x", absl::Hex(op)));
    }
  }
  return bad("truncated: no STOP");
}

absl::Status CheckWritableDirectory(const std::string& flag, const std::string& dir) {
  const std::string shown = absl::StrCat(flag, "=", dir);
  std::error_code error;
  if (std::filesystem::exists(dir, error)) {
    if (!std::filesystem::is_directory(dir, error)) {
      return absl::FailedPreconditionError(absl::StrCat(shown, ": not a directory"));
    }
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
    return absl::FailedPreconditionError(
        absl::StrCat(shown, ": cannot create it: ", ancestor.string(), " is not writable (", std::strerror(errno),
                     ")"));
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

}  // namespace qres::tools
