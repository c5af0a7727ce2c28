#include "qres/io/file_reader.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"

namespace qres::io {

struct GzipReader::File {
  std::string path;
  gzFile handle = nullptr;
};

GzipReader::GzipReader(std::unique_ptr<File> file) : file_(std::move(file)) {}

GzipReader::~GzipReader() { gzclose_r(file_->handle); }

absl::StatusOr<std::unique_ptr<GzipReader>> GzipReader::Open(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode)) return absl::InvalidArgumentError(absl::StrCat(path, ": not a file"));
  auto file = std::make_unique<File>();
  file->path = path;
  file->handle = gzopen(path.c_str(), "rb");
  if (file->handle == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  gzbuffer(file->handle, 1 << 17);
  return std::unique_ptr<GzipReader>(new GzipReader(std::move(file)));
}

absl::StatusOr<size_t> GzipReader::Read(char* out, size_t size) {
  size_t done = 0;
  while (done < size) {
    const unsigned want = static_cast<unsigned>(std::min<size_t>(size - done, size_t{1} << 30));
    const int n = gzread(file_->handle, out + done, want);
    int code = Z_OK;
    const char* message = gzerror(file_->handle, &code);
    if (n < 0 || code != Z_OK) {  // Z_BUF_ERROR at the end: the stream stops mid-member
      return absl::DataLossError(absl::StrCat(file_->path, ": truncated or corrupt gzip data (", message, ")"));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

absl::StatusOr<std::string> GzipReader::ReadRest(size_t max_bytes) {
  // In pieces joined at the end: a growing string would hold two copies while it reallocates.
  constexpr size_t kPiece = size_t{1} << 20;
  std::vector<std::string> pieces;
  size_t total = 0;
  while (true) {
    // One byte past max_bytes tells whether there is more.
    std::string piece(std::min(kPiece, max_bytes + 1 - total), '\0');
    QRES_ASSIGN_OR_RETURN(const size_t got, Read(piece.data(), piece.size()));
    total += got;
    if (total > max_bytes) return absl::OutOfRangeError(absl::StrCat("more than ", max_bytes, " bytes"));
    const bool end = got < piece.size();
    piece.resize(got);
    pieces.push_back(std::move(piece));
    if (end) break;
  }
  std::string bytes;
  bytes.reserve(total);
  for (const std::string& piece : pieces) bytes += piece;
  return bytes;
}

absl::StatusOr<std::string> ReadFileMaybeGzip(const std::string& path, size_t max_bytes) {
  QRES_ASSIGN_OR_RETURN(std::unique_ptr<GzipReader> file, GzipReader::Open(path));
  absl::StatusOr<std::string> bytes = file->ReadRest(max_bytes);
  if (absl::IsOutOfRange(bytes.status())) {
    return absl::DataLossError(
        absl::StrCat(path, ": more than ", max_bytes, " bytes (decompressed), more than such a file holds"));
  }
  return bytes;
}

}  // namespace qres::io
