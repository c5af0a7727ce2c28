#include "qres/data/file_reader.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace qres::data {

bool FileExists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

absl::StatusOr<std::string> ReadFileMaybeGzip(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, ": not a file"));
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  gzbuffer(file, 1 << 17);
  std::string bytes;
  bytes.reserve(static_cast<size_t>(info.st_size) * 2);
  char chunk[1 << 16];
  while (true) {
    const int n = gzread(file, chunk, sizeof(chunk));
    if (n < 0) {
      int code;
      std::string message = gzerror(file, &code);
      gzclose_r(file);
      return absl::DataLossError(absl::StrCat(path, ": corrupt gzip data (", message, ")"));
    }
    if (n == 0) break;
    bytes.append(chunk, n);
  }
  int code = Z_OK;
  std::string message = gzerror(file, &code);
  const int closed = gzclose_r(file);
  if (code != Z_OK || closed != Z_OK) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated or corrupt gzip data (", code != Z_OK ? message : "close failed", ")"));
  }
  return bytes;
}

}  // namespace qres::data
