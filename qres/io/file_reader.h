// Reading files, gzipped or not, with errors that name the file, and never inflating more than the
// caller expects: a small gzip file can hold gigabytes of zeros.
#ifndef QRES_IO_FILE_READER_H_
#define QRES_IO_FILE_READER_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace qres::io {

// A file read front to back, decompressed if it is gzip (plain files read as they are), for
// formats whose header says how much follows.
//   QRES_ASSIGN_OR_RETURN(auto file, GzipReader::Open(path));
//   QRES_ASSIGN_OR_RETURN(size_t got, file->Read(buffer, size));
class GzipReader {
 public:
  // NotFound if `path` does not exist, InvalidArgument if it is not a file.
  static absl::StatusOr<std::unique_ptr<GzipReader>> Open(const std::string& path);
  ~GzipReader();
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  // Reads up to `size` bytes into `out`; returns how many (fewer only at the end of the data).
  // DataLoss for a corrupt or truncated gzip stream.
  absl::StatusOr<size_t> Read(char* out, size_t size);
  // The rest of the data, if it is at most `max_bytes` long; OutOfRange when there is more, found
  // before anything is joined. Memory follows the bytes that are there, not `max_bytes`: a header
  // may promise more than the file holds, and a small gzip file can inflate to gigabytes.
  absl::StatusOr<std::string> ReadRest(size_t max_bytes);

 private:
  struct File;
  explicit GzipReader(std::unique_ptr<File> file);
  std::unique_ptr<File> file_;
};

// The bytes of `path`, decompressed if it is gzip. DataLoss if they are more than `max_bytes`
// (reading stops there), or for a corrupt or truncated gzip stream.
absl::StatusOr<std::string> ReadFileMaybeGzip(const std::string& path, size_t max_bytes);

}  // namespace qres::io

#endif  // QRES_IO_FILE_READER_H_
