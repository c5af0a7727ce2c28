// Median time of one training step (zero_grad, forward, cross-entropy, backward, optimizer step)
// on a fixed synthetic batch, on the CPU or a CUDA GPU. tools/bench_train_step.sh runs it beside
// the same step in Python PyTorch (tools/bench_train_step.py) and prints the ratio.
//
//   bazel run -c opt //qres/bench:train_step_bench -- --net=CNN --batch=100 --algo=Adam
//   train_step_bench --device=cuda --net=ResNet --net_params=layers=5 --channels=3 --size=32
//       --batch=128 --algo=QtAdamW      (one command line; a --config=cuda build, on the GPU machine)
//
// --cuda_graphs replays the step from a CUDA graph, as train --cuda_graphs=on does
// (qres/train/step_graph.h): the fused CUDA step in it, other optimizers' steps after it.
//
// Steps are timed in groups of kGroup, waiting for the device at the end of each group, so a GPU
// overlaps the host's launches with the previous step's kernels as in training; the figure is the
// median group's time per step.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ATen/Context.h"
#include "ATen/detail/CUDAHooksInterface.h"
#include "ATen/ops/cross_entropy_loss.h"
#include "ATen/ops/randint.h"
#include "ATen/ops/randn.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gflags/gflags.h"
#include "qres/base/allocator.h"
#include "qres/bench/bench_flags.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/train/precision.h"
#include "qres/train/step_graph.h"

DEFINE_string(net, "CNN", "net");
DEFINE_int32(batch, 100, "batch size");
DEFINE_int32(channels, 1, "input channels");
DEFINE_int32(size, 28, "input height and width");
DEFINE_string(net_params, "",
              "the net's options k=v,... as train takes them (ResNet: layers=3 is ResNet-20, "
              "layers=5, the default, ResNet-32)");
DEFINE_string(algo, "Adam", "optimizer");
DEFINE_double(lr, 1e-3, "learning rate");
DEFINE_double(momentum, 0.0, "SGD momentum (0: none)");
DEFINE_int32(steps, 100, "timed steps (after 10 warm-up steps), in groups of 10");
DEFINE_string(device, "cpu", "cpu or cuda");
DEFINE_bool(channels_last, false, "images in channels-last memory (real NHWC strides)");
DEFINE_string(precision, "fp32", "fp32, bf16 or fp16 (CUDA): the forward pass and loss under autocast");
DEFINE_bool(cuda_graphs, false,
            "forward and backward replayed from a CUDA graph (--device=cuda, a --config=cuda build)");

namespace {

constexpr int kGroup = 10;

int Fail(const std::string& message) {
  std::cerr << "train_step_bench: " << message << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  qres::KeepFreedMemoryForReuse();  // as the train tool does
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (!qres::bench::AllAtLeastOne(
          "train_step_bench",
          {{"batch", FLAGS_batch}, {"channels", FLAGS_channels}, {"size", FLAGS_size}, {"steps", FLAGS_steps}})) {
    return 1;
  }
  if (FLAGS_device != "cpu" && FLAGS_device != "cuda") {
    return Fail(absl::StrCat("--device=", FLAGS_device, ": use cpu or cuda"));
  }
  if (FLAGS_device == "cuda" && !at::hasCUDA()) return Fail("--device=cuda but no CUDA GPU is available");
  if (FLAGS_momentum < 0.0) return Fail(absl::StrCat("--momentum=", FLAGS_momentum, " must be >= 0"));
  const c10::Device device(FLAGS_device == "cuda" ? c10::kCUDA : c10::kCPU);
  at::manual_seed(0);
  qres::models::ModelSpec spec;
  spec.channels = FLAGS_channels;
  spec.height = spec.width = FLAGS_size;
  spec.options = FLAGS_net_params;
  auto net = qres::models::CreateModel(FLAGS_net, spec);
  if (!net.ok()) return Fail(std::string(net.status().message()));
  (*net)->to(device);
  qres::optim::OptimizerSpec optim_spec;
  optim_spec.lr = FLAGS_lr;
  if (FLAGS_momentum > 0.0) optim_spec.optim_params = absl::StrCat("momentum=", FLAGS_momentum);
  auto optimizer = qres::optim::OptimizerRegistry::Create(FLAGS_algo, (*net)->parameters(), optim_spec);
  if (!optimizer.ok()) return Fail(std::string(optimizer.status().message()));
  at::Tensor images = at::randn({FLAGS_batch, FLAGS_channels, FLAGS_size, FLAGS_size}).to(device);
  if (FLAGS_channels_last) images = qres::models::ToChannelsLast(images);
  const at::Tensor labels = at::randint(0, 10, {FLAGS_batch}, at::kLong).to(device);
  const auto wait_for_device = [&] {
    if (device.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(device.index());
  };
  const auto precision = qres::train::ParsePrecision(FLAGS_precision, device.is_cuda());
  if (!precision.ok()) return Fail(std::string(precision.status().message()));
  const qres::train::GraphedStep::Work forward_backward = [&](const at::Tensor& x, const at::Tensor& y) {
    (*optimizer)->zero_grad(/*set_to_none=*/!FLAGS_cuda_graphs);  // in place under a graph
    at::Tensor loss;
    {
      const qres::train::AutocastScope autocast(*precision, device);
      loss = at::cross_entropy_loss((*net)->forward(x), y);
    }
    loss.backward();
    return loss.detach();
  };
  std::unique_ptr<qres::train::GraphedStep> graphed;
  std::optional<qres::train::GraphedStep::OptimizerStep> in_graph;  // the fused CUDA step
  if (FLAGS_cuda_graphs) {
    std::unique_ptr<qres::train::StepGraph> graph = qres::train::MakeStepGraph(device);
    if (graph == nullptr) return Fail("--cuda_graphs needs --device=cuda and a --config=cuda build");
    graphed = std::make_unique<qres::train::GraphedStep>(std::move(graph), (*net)->parameters(), FLAGS_batch);
    in_graph = qres::train::OptimizerStepInGraph(**optimizer);
  }
  const auto step = [&] {
    if (graphed) {
      graphed->Run(images, labels, forward_backward, in_graph ? &*in_graph : nullptr);
    } else {
      forward_backward(images, labels);
    }
    if (!in_graph) (*optimizer)->step();
  };
  for (int i = 0; i < 10; ++i) step();  // warm-up: allocations, cuDNN's algorithm search, the capture
  wait_for_device();
  std::vector<double> ms_per_step;
  for (int done = 0; done < FLAGS_steps; done += kGroup) {
    const int group = std::min(kGroup, FLAGS_steps - done);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < group; ++i) step();
    wait_for_device();
    const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
    ms_per_step.push_back(elapsed.count() / group);
  }
  std::nth_element(ms_per_step.begin(), ms_per_step.begin() + ms_per_step.size() / 2, ms_per_step.end());
  std::cout << absl::StrFormat("%.4f\n", ms_per_step[ms_per_step.size() / 2]);
  return 0;
}
