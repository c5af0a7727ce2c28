#include "qres/data/dataset.h"

#include <cstdint>

#include "ATen/ops/max.h"
#include "ATen/ops/min.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qres/base/status_macros.h"
#include "qres/io/crc32.h"

namespace qres::data {

const char* ToString(Split split) { return split == Split::kTrain ? "train" : "test"; }

absl::StatusOr<Dataset> LoadDataset(const std::string& name, const std::string& dir, Split split) {
  QRES_ASSIGN_OR_RETURN(auto loader, DatasetRegistry::Create(name));
  return loader->Load(dir.empty() ? loader->DefaultDir() : dir, split);
}

namespace {

std::string Checksum(const Dataset& set) {
  uint32_t crc = 0;
  for (const at::Tensor& tensor : {set.images, set.labels}) {
    if (!tensor.defined()) continue;
    const at::Tensor bytes = tensor.cpu().contiguous();
    crc = io::Crc32(bytes.data_ptr(), bytes.nbytes(), crc);
  }
  return absl::StrFormat("%08x", crc);
}

}  // namespace

std::string DataSetSetting(const Dataset& train) {
  return absl::StrCat(train.name, " (", train.size(), " training images)");
}

std::string DataChecksums(const Dataset& train, const Dataset& test) {
  return absl::StrCat("train ", Checksum(train), ", test ", Checksum(test));
}

absl::Status CheckLabels(const at::Tensor& labels, int64_t classes, int64_t images, const std::string& source) {
  if (labels.size(0) != images) {
    return absl::DataLossError(absl::StrCat(source, ": ", labels.size(0), " labels for ", images, " images"));
  }
  if (labels.numel() == 0) return absl::OkStatus();
  const int64_t low = labels.min().item<int64_t>();
  const int64_t high = labels.max().item<int64_t>();
  if (low < 0 || high >= classes) {
    return absl::DataLossError(
        absl::StrCat(source, ": label ", low < 0 ? low : high, " is out of range [0, ", classes, ")"));
  }
  return absl::OkStatus();
}

}  // namespace qres::data
