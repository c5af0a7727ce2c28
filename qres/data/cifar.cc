// CIFAR-10 and CIFAR-100 from the official binary archives:
//   CIFAR-10:  data_batch_1.bin ... data_batch_5.bin, test_batch.bin; records of 1 label byte +
//              3072 pixel bytes (3x32x32, planar).
//   CIFAR-100: train.bin, test.bin; records of coarse label, fine label + 3072 pixel bytes. The
//              fine labels are the classes; coarse labels are checked too. Class names come from
//              the archive's fine_label_names.txt ("class N" without it).
// The folder may be the one given or its official subfolder (cifar-10-batches-bin,
// cifar-100-binary).
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ATen/ops/empty.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "qres/base/status_macros.h"
#include "qres/data/dataset.h"
#include "qres/io/file_reader.h"
#include "qres/io/files.h"

namespace qres::data {
namespace {

constexpr int64_t kPixels = 3 * 32 * 32;
// The most records one archive file holds (CIFAR-100's train.bin), and the most bytes its class
// names file may hold: a file that inflates past these is an error before it fills memory.
constexpr size_t kMaxRecordsPerFile = 50000;
constexpr size_t kMaxNamesFileBytes = size_t{1} << 20;

struct CifarFormat {
  std::string name;
  std::string subdir;
  std::vector<std::string> train_files, test_files;
  int64_t label_bytes;  // 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
  int64_t classes;
  int64_t coarse_classes;  // CIFAR-100 only
  std::string names_file;  // one class name per line, beside the records; empty: built in
};

class CifarLoader : public DatasetLoader {
 public:
  explicit CifarLoader(CifarFormat format) : format_(std::move(format)) {}

  std::string DefaultDir() const override { return "Torch_Data"; }

  absl::StatusOr<Dataset> Load(const std::string& dir, Split split) const override {
    const auto& names = split == Split::kTrain ? format_.train_files : format_.test_files;
    std::string root = dir;
    if (!io::FileExists(absl::StrCat(root, "/", names[0])) &&
        io::FileExists(absl::StrCat(dir, "/", format_.subdir, "/", names[0]))) {
      root = absl::StrCat(dir, "/", format_.subdir);
    }
    const int64_t record = format_.label_bytes + kPixels;
    std::vector<std::string> contents;
    std::vector<std::string> paths;
    int64_t total = 0;
    for (const std::string& name : names) {
      const std::string path = absl::StrCat(root, "/", name);
      if (!io::FileExists(path)) {
        return absl::NotFoundError(absl::StrCat(path, ": missing (", format_.name, " needs ", names.size(),
                                                " file(s) in ", dir, " or ", dir, "/", format_.subdir, ")"));
      }
      QRES_ASSIGN_OR_RETURN(std::string bytes,
                            io::ReadFileMaybeGzip(path, kMaxRecordsPerFile * static_cast<size_t>(record)));
      if (bytes.empty() || bytes.size() % record != 0) {
        return absl::DataLossError(absl::StrCat(path, ": ", bytes.size(), " bytes is not a whole ", "number of ",
                                                record, "-byte ", format_.name,
                                                " records (truncated or trailing bytes)"));
      }
      total += static_cast<int64_t>(bytes.size()) / record;
      contents.push_back(std::move(bytes));
      paths.push_back(path);
    }
    at::Tensor images = at::empty({total, 3, 32, 32}, at::kByte);
    at::Tensor labels = at::empty({total}, at::kLong);
    uint8_t* pixels = images.data_ptr<uint8_t>();
    int64_t* label = labels.data_ptr<int64_t>();
    int64_t n = 0;
    for (size_t f = 0; f < contents.size(); ++f) {
      const std::string& bytes = contents[f];
      for (size_t offset = 0; offset < bytes.size(); offset += record, ++n) {
        const auto* rec = reinterpret_cast<const uint8_t*>(bytes.data() + offset);
        if (format_.label_bytes == 2 && rec[0] >= format_.coarse_classes) {
          return absl::DataLossError(absl::StrCat(paths[f], ": record ", offset / record, ": coarse label ",
                                                  int{rec[0]}, " is out of range [0, ", format_.coarse_classes, ")"));
        }
        const int64_t fine = rec[format_.label_bytes - 1];
        if (fine >= format_.classes) {
          return absl::DataLossError(absl::StrCat(paths[f], ": record ", offset / record, ": label ", fine,
                                                  " is out of range [0, ", format_.classes, ")"));
        }
        label[n] = fine;
        std::memcpy(pixels + n * kPixels, rec + format_.label_bytes, kPixels);
      }
    }
    Dataset data;
    data.name = format_.name;
    data.images = images;
    data.labels = labels;
    data.classes = format_.classes;
    QRES_ASSIGN_OR_RETURN(data.class_names, ClassNames(root));
    data.normalization = Normalization::kSymmetric;
    data.mean = {0.4914, 0.4822, 0.4465};
    data.std = {0.2023, 0.1994, 0.2010};
    data.default_batch_size = format_.classes == 10 ? 128 : 100;
    data.source = root;
    return data;
  }

 private:
  absl::StatusOr<std::vector<std::string>> ClassNames(const std::string& root) const {
    if (format_.names_file.empty()) {
      return std::vector<std::string>{"airplane", "automobile", "bird",  "cat",  "deer",
                                      "dog",      "frog",       "horse", "ship", "truck"};
    }
    std::vector<std::string> names;
    const std::string path = absl::StrCat(root, "/", format_.names_file);
    if (!io::FileExists(path)) {
      for (int64_t c = 0; c < format_.classes; ++c) names.push_back(absl::StrCat("class ", c));
      return names;
    }
    QRES_ASSIGN_OR_RETURN(const std::string text, io::ReadFileMaybeGzip(path, kMaxNamesFileBytes));
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
      names.emplace_back(absl::StripAsciiWhitespace(line));
    }
    if (static_cast<int64_t>(names.size()) != format_.classes) {
      return absl::DataLossError(
          absl::StrCat(path, ": ", names.size(), " class names, expected ", format_.classes, " (one per line)"));
    }
    return names;
  }

  CifarFormat format_;
};

QRES_REGISTER_DATASET("CIFAR10", "32x32 colour images, 10 classes; binary archive in Torch_Data", [] {
  return absl::StatusOr<std::unique_ptr<DatasetLoader>>(std::make_unique<CifarLoader>(
      CifarFormat{"CIFAR10",
                  "cifar-10-batches-bin",
                  {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"},
                  {"test_batch.bin"},
                  1,
                  10,
                  0,
                  ""}));
});

QRES_REGISTER_DATASET("CIFAR100", "32x32 colour images, 100 fine classes; binary archive in Torch_Data", [] {
  return absl::StatusOr<std::unique_ptr<DatasetLoader>>(std::make_unique<CifarLoader>(
      CifarFormat{"CIFAR100", "cifar-100-binary", {"train.bin"}, {"test.bin"}, 2, 100, 20, "fine_label_names.txt"}));
});

}  // namespace
}  // namespace qres::data
