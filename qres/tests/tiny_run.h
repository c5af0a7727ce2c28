// The tiny runs the end-to-end tests train: a generated MNIST of 200 training and 50 test images,
// a run's parameters, and a model file read back.
#ifndef QRES_TESTS_TINY_RUN_H_
#define QRES_TESTS_TINY_RUN_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ATen/core/Tensor.h"
#include "gtest/gtest.h"
#include "qres/data/test_files.h"
#include "qres/io/run_layout.h"
#include "qres/models/model.h"
#include "qres/train/model_file.h"
#include "qres/train/trainer.h"

namespace qres::train::testing {

// A 2-epoch run of `net` and `algorithm` on the tiny data, into a fresh folder named `name`.
inline TrainConfig TinyRun(const std::string& name, const std::string& net, const std::string& algorithm) {
  static const std::string data_dir = [] {
    std::string dir = data::testing::MakeTempDir("tiny_mnist");
    data::testing::WriteMnist(dir, 200, 50, /*gzip=*/true);
    return dir;
  }();
  TrainConfig config;
  config.net = net;
  config.algorithm = algorithm;
  config.dataset = "MNIST";
  config.data_dir = data_dir;
  config.out_dir = data::testing::MakeTempDir(name);
  config.epochs = 2;
  config.batch_size = 32;
  if (net == "ResNet") config.net_params = "layers=1";
  config.lr = 0.01;
  if (algorithm.front() == 'Q') config.qp = 2;  // -qp is an error where no bump schedule reads it
  config.threads = 1;
  return config;
}

// The net's parameters and buffers by name.
inline std::vector<std::pair<std::string, at::Tensor>> Parameters(const models::Net& net) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : net.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : net.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

// The model file the run `config` wrote.
inline std::shared_ptr<models::Net> LoadNet(const TrainConfig& config) {
  models::ModelSpec spec;
  spec.options = config.net_params;
  auto net = models::CreateModel(config.net, spec);
  EXPECT_TRUE(net.ok()) << net.status();
  const std::string path = io::run_layout::ModelFile(config.out_dir, RunName(config));
  absl::Status loaded = LoadModelFile(path, **net);
  EXPECT_TRUE(loaded.ok()) << loaded;
  return *net;
}

}  // namespace qres::train::testing

#endif  // QRES_TESTS_TINY_RUN_H_
