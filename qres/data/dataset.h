// Datasets: loaded once into in-memory tensors (uint8 images [N, C, H, W], int64 labels [N]).
//
//   QRES_ASSIGN_OR_RETURN(Dataset train, LoadDataset("FashionMNIST", /*dir=*/"", Split::kTrain));
//   train.images.size(0);  // 60000
//
// Registered names (the seed's): MNIST, FashionMNIST (//qres/data:mnist), CIFAR10, CIFAR100
// (//qres/data:cifar). An empty dir means the dataset's conventional folder (DefaultDir()).
// Every problem with the files is an absl::Status naming the file: a dataset never loads halfway.
#ifndef QRES_DATA_DATASET_H_
#define QRES_DATA_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "absl/status/statusor.h"
#include "qres/base/registry.h"

namespace qres::data {

enum class Split { kTrain, kTest };
const char* ToString(Split split);

// How uint8 pixels become the network's input (algorithm.md §5).
enum class Normalization {
  kUnit,       // x / 255 in [0, 1] (MNIST family, as the reference)
  kSymmetric,  // (x / 255 − 0.5) / 0.5 in [−1, 1] (CIFAR, as the reference)
  kMeanStd,    // (x / 255 − mean) / std per channel, the common CIFAR statistics
};

struct Dataset {
  std::string name;
  at::Tensor images;  // uint8 [N, C, H, W]
  at::Tensor labels;  // int64 [N], in [0, classes)
  int64_t classes = 0;
  std::vector<std::string> class_names;
  Normalization normalization = Normalization::kUnit;  // the reference's
  std::vector<double> mean, std;                       // for kMeanStd
  int64_t default_batch_size = 100;                    // the reference's
  std::string source;                                  // what was read, for logs

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

class DatasetLoader {
 public:
  virtual ~DatasetLoader() = default;
  // Where the data is looked for when no directory is given.
  virtual std::string DefaultDir() const = 0;
  virtual absl::StatusOr<Dataset> Load(const std::string& dir, Split split) const = 0;
};

using DatasetRegistry = Registry<DatasetLoader>;

// DatasetRegistry lookup + Load; `dir` empty means the loader's DefaultDir().
absl::StatusOr<Dataset> LoadDataset(const std::string& name, const std::string& dir, Split split);

// How a run's settings name its data: the data set and its size, "MNIST (60000 training images)",
// and what identifies the bytes loaded, "train <crc>, test <crc>": 8 hex digits of the CRC-32 of
// each split's images then labels (a data set of the same name and size elsewhere differs in
// them; about 50 ms for Fashion-MNIST's training set).
std::string DataSetSetting(const Dataset& train);
std::string DataChecksums(const Dataset& train, const Dataset& test);

// Checks that labels are in [0, classes) and that there is one per image; names `source`.
absl::Status CheckLabels(const at::Tensor& labels, int64_t classes, int64_t images, const std::string& source);

}  // namespace qres::data

namespace qres {
template <>
struct RegistryKind<data::DatasetLoader> {
  static constexpr const char* kName = "dataset";
};
}  // namespace qres

// Registers a loader factory: absl::StatusOr<std::unique_ptr<DatasetLoader>> Make().
#define QRES_REGISTER_DATASET(name, help, factory) \
  QRES_REGISTER_COMPONENT(::qres::data::DatasetRegistry, name, help, factory)

#endif  // QRES_DATA_DATASET_H_
