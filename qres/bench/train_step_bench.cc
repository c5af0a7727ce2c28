// Median time of one CPU training step (zero_grad, forward, cross-entropy, backward, optimizer
// step) on a fixed synthetic batch. tools/bench_train_step.sh runs it beside the same step in
// Python PyTorch (tools/bench_train_step.py) and prints the ratio.
//
//   bazel run -c opt //qres/bench:train_step_bench -- --net=CNN --batch=100 --algo=Adam
#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include "ATen/ops/cross_entropy_loss.h"
#include "ATen/ops/randint.h"
#include "ATen/ops/randn.h"
#include "absl/strings/str_format.h"
#include "qres/base/allocator.h"
#include "gflags/gflags.h"
#include "qres/bench/bench_flags.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"

DEFINE_string(net, "CNN", "net");
DEFINE_int32(batch, 100, "batch size");
DEFINE_int32(channels, 1, "input channels");
DEFINE_int32(size, 28, "input height and width");
DEFINE_int32(resnet_layers, 3, "ResNet n");
DEFINE_string(algo, "Adam", "optimizer");
DEFINE_double(lr, 1e-3, "learning rate");
DEFINE_int32(steps, 100, "timed steps (after 10 warm-up steps)");

int main(int argc, char** argv) {
  qres::KeepFreedMemoryForReuse();  // as the train tool does
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (!qres::bench::AllAtLeastOne("train_step_bench", {{"batch", FLAGS_batch},
                                                       {"channels", FLAGS_channels},
                                                       {"size", FLAGS_size},
                                                       {"resnet_layers", FLAGS_resnet_layers},
                                                       {"steps", FLAGS_steps}})) {
    return 1;
  }
  at::manual_seed(0);
  qres::models::ModelSpec spec;
  spec.channels = FLAGS_channels;
  spec.height = spec.width = FLAGS_size;
  spec.resnet_layers = FLAGS_resnet_layers;
  auto net = qres::models::CreateModel(FLAGS_net, spec);
  if (!net.ok()) {
    std::cerr << net.status().message() << "\n";
    return 1;
  }
  qres::optim::OptimizerSpec optim_spec;
  optim_spec.lr = FLAGS_lr;
  auto optimizer = qres::optim::OptimizerRegistry::Create(FLAGS_algo, (*net)->parameters(), optim_spec);
  if (!optimizer.ok()) {
    std::cerr << optimizer.status().message() << "\n";
    return 1;
  }
  const at::Tensor images = at::randn({FLAGS_batch, FLAGS_channels, FLAGS_size, FLAGS_size});
  const at::Tensor labels = at::randint(0, 10, {FLAGS_batch}, at::kLong);
  std::vector<double> times;
  for (int i = 0; i < FLAGS_steps + 10; ++i) {
    const auto start = std::chrono::steady_clock::now();
    (*optimizer)->zero_grad();
    at::cross_entropy_loss((*net)->forward(images), labels).backward();
    (*optimizer)->step();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (i >= 10) times.push_back(ms);
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  std::cout << absl::StrFormat("%.4f\n", times[times.size() / 2]);
  return 0;
}
