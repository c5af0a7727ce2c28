// MNIST and Fashion-MNIST from the official IDX files, gzipped or raw:
// {train,t10k}-images-idx3-ubyte[.gz] and {train,t10k}-labels-idx1-ubyte[.gz].
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/data/dataset.h"
#include "qres/data/idx.h"
#include "qres/io/file_reader.h"
#include "qres/io/files.h"

namespace qres::data {
namespace {

// The file for `stem` in `dir`: the gzipped one if present, else the raw one.
absl::StatusOr<std::string> FindIdxFile(const std::string& dir, const std::string& stem) {
  for (const std::string& candidate : {absl::StrCat(dir, "/", stem, ".gz"), absl::StrCat(dir, "/", stem)}) {
    if (io::FileExists(candidate)) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat(dir, ": no ", stem, ".gz or ", stem, " (pass the folder that holds the IDX files with --data_dir)"));
}

class MnistLoader : public DatasetLoader {
 public:
  MnistLoader(std::string name, std::string default_dir, std::vector<std::string> class_names)
      : name_(std::move(name)), default_dir_(std::move(default_dir)), class_names_(std::move(class_names)) {}

  std::string DefaultDir() const override { return default_dir_; }

  absl::StatusOr<Dataset> Load(const std::string& dir, Split split) const override {
    const std::string prefix = split == Split::kTrain ? "train" : "t10k";
    QRES_ASSIGN_OR_RETURN(std::string image_path, FindIdxFile(dir, prefix + "-images-idx3-ubyte"));
    QRES_ASSIGN_OR_RETURN(std::string label_path, FindIdxFile(dir, prefix + "-labels-idx1-ubyte"));
    QRES_ASSIGN_OR_RETURN(at::Tensor images, ReadIdx(image_path, 3));
    QRES_ASSIGN_OR_RETURN(at::Tensor labels, ReadIdx(label_path, 1));
    if (images.size(1) != 28 || images.size(2) != 28) {
      return absl::DataLossError(
          absl::StrCat(image_path, ": images are ", images.size(1), "x", images.size(2), ", ", name_, " has 28x28"));
    }
    labels = labels.to(at::kLong);
    QRES_RETURN_IF_ERROR(CheckLabels(labels, 10, images.size(0), label_path));
    Dataset data;
    data.name = name_;
    data.images = images.unsqueeze(1);
    data.labels = labels;
    data.classes = 10;
    data.class_names = class_names_;
    data.normalization = Normalization::kUnit;
    data.mean = {0.5};
    data.std = {0.5};
    data.default_batch_size = 100;
    data.source = absl::StrCat(image_path, ", ", label_path);
    return data;
  }

 private:
  std::string name_, default_dir_;
  std::vector<std::string> class_names_;
};

QRES_REGISTER_DATASET("MNIST", "handwritten digits, 1x28x28, 10 classes; IDX files in Torch_Data/MNIST/raw", [] {
  return absl::StatusOr<std::unique_ptr<DatasetLoader>>(std::make_unique<MnistLoader>(
      "MNIST", "Torch_Data/MNIST/raw", std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
});

QRES_REGISTER_DATASET("FashionMNIST",
                      "Zalando's clothing images, 1x28x28, 10 classes; Debian's /usr/share/datasets/fashion-mnist", [] {
                        return absl::StatusOr<std::unique_ptr<DatasetLoader>>(std::make_unique<MnistLoader>(
                            "FashionMNIST", "/usr/share/datasets/fashion-mnist",
                            std::vector<std::string>{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                                                     "Shirt", "Sneaker", "Bag", "Ankle boot"}));
                      });

}  // namespace
}  // namespace qres::data
