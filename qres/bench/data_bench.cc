// Data pipeline costs on the CPU, measured against the training they feed, in one process:
//   load Fashion-MNIST's gzipped training set; one epoch of batches of 128 (shuffle + normalise,
//   and with augmentation); one LeNet training epoch on the same batch reused, for the ratio.
//
//   bazel run -c opt //qres/bench:data_bench
#include <chrono>
#include <iostream>

#include "ATen/ops/cross_entropy_loss.h"
#include "absl/strings/str_format.h"
#include "qres/base/allocator.h"
#include "qres/data/batches.h"
#include "qres/data/dataset.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

int main() {
  qres::KeepFreedMemoryForReuse();  // as the train tool does
  auto start = Clock::now();
  auto train = qres::data::LoadDataset("FashionMNIST", "", qres::data::Split::kTrain);
  if (!train.ok()) {
    std::cerr << train.status().message() << "\n";
    return 1;
  }
  const double load = Since(start);

  auto epoch_of_batches = [&](bool augment) {
    qres::data::BatchOptions options;
    options.batch_size = 128;
    options.augment = augment;
    qres::data::Batches batches(*train, options);
    const auto t = Clock::now();
    batches.StartEpoch(0);
    for (int64_t b = 0; b < batches.size(); ++b) batches.Get(b);
    return Since(t);
  };
  const double plain = epoch_of_batches(false);
  const double augmented = epoch_of_batches(true);

  qres::models::ModelSpec spec;
  auto net = qres::models::CreateModel("LeNet", spec);
  qres::optim::OptimizerSpec optim_spec;
  optim_spec.lr = 0.01;
  auto optimizer = qres::optim::OptimizerRegistry::Create("SGD", (*net)->parameters(), optim_spec);
  qres::data::BatchOptions options;
  options.batch_size = 128;
  qres::data::Batches batches(*train, options);
  batches.StartEpoch(0);
  const qres::data::Batch batch = batches.Get(0);
  const auto t = Clock::now();
  for (int64_t b = 0; b < batches.size(); ++b) {
    (*optimizer)->zero_grad();
    at::cross_entropy_loss((*net)->forward(batch.images), batch.labels).backward();
    (*optimizer)->step();
  }
  const double training = Since(t);

  std::cout << absl::StrFormat("load Fashion-MNIST train (gzip, 60000 images): %.3f s\n", load);
  std::cout << absl::StrFormat("LeNet training epoch (469 steps of 128, SGD, batch reused): %.3f s\n", training);
  std::cout << absl::StrFormat("batching epoch, shuffle + normalise: %.3f s = %.2f %% of the training epoch\n", plain,
                               100 * plain / training);
  std::cout << absl::StrFormat("batching epoch, + crop and flip:     %.3f s = %.2f %% of the training epoch\n",
                               augmented, 100 * augmented / training);
  return 0;
}
