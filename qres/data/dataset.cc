#include "qres/data/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>

#include "ATen/ops/max.h"
#include "ATen/ops/min.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qres/base/status_macros.h"

namespace qres::data {

const char* ToString(Split split) { return split == Split::kTrain ? "train" : "test"; }

absl::StatusOr<Dataset> LoadDataset(const std::string& name, const std::string& dir, Split split) {
  QRES_ASSIGN_OR_RETURN(auto loader, DatasetRegistry::Create(name));
  return loader->Load(dir.empty() ? loader->DefaultDir() : dir, split);
}

std::string Checksum(const Dataset& set) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const at::Tensor& tensor : {set.images, set.labels}) {
    if (!tensor.defined()) continue;
    const at::Tensor bytes = tensor.cpu().contiguous();
    const auto* data = static_cast<const Bytef*>(bytes.data_ptr());
    // zlib takes at most 4 GiB a call.
    for (size_t left = bytes.nbytes(), chunk; left > 0; left -= chunk, data += chunk) {
      chunk = std::min<size_t>(left, size_t{1} << 30);
      crc = crc32(crc, data, static_cast<uInt>(chunk));
    }
  }
  return absl::StrFormat("%08x", static_cast<uint32_t>(crc));
}

absl::Status CheckLabels(const at::Tensor& labels, int64_t classes, int64_t images,
                         const std::string& source) {
  if (labels.size(0) != images) {
    return absl::DataLossError(absl::StrCat(source, ": ", labels.size(0), " labels for ", images,
                                            " images"));
  }
  if (labels.numel() == 0) return absl::OkStatus();
  const int64_t low = labels.min().item<int64_t>();
  const int64_t high = labels.max().item<int64_t>();
  if (low < 0 || high >= classes) {
    return absl::DataLossError(absl::StrCat(source, ": label ", low < 0 ? low : high,
                                            " is out of range [0, ", classes, ")"));
  }
  return absl::OkStatus();
}

}  // namespace qres::data
