// Checks the CRC-32 of every record of a torch archive (the zip that torch.save, pickle_save and
// torch::serialize write), so a damaged model file or checkpoint is an error instead of wrong
// weights. LibTorch reads records without checking them.
//
//   QRES_RETURN_IF_ERROR(CheckArchive(bytes, "checkpoint " + path));
#ifndef QRES_IO_ARCHIVE_CHECK_H_
#define QRES_IO_ARCHIVE_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace qres::io {

// OK when `bytes` is a zip archive whose records all match their CRC-32 (stored records as they
// are, deflated ones once inflated). DataLoss otherwise, one line starting with `what`: "not a zip
// archive", or which record is damaged or cut off.
absl::Status CheckArchive(absl::string_view bytes, const std::string& what);

}  // namespace qres::io

#endif  // QRES_IO_ARCHIVE_CHECK_H_
