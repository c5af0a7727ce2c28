// Reading whole files, gzipped or not, with errors that name the file.
#ifndef QRES_DATA_FILE_READER_H_
#define QRES_DATA_FILE_READER_H_

#include <string>

#include "absl/status/statusor.h"

namespace qres::data {

// The bytes of `path`, decompressed if it is gzip (zlib reads plain files as they are).
// NotFound if it does not exist; DataLoss for a corrupt or truncated gzip stream.
absl::StatusOr<std::string> ReadFileMaybeGzip(const std::string& path);

bool FileExists(const std::string& path);

}  // namespace qres::data

#endif  // QRES_DATA_FILE_READER_H_
