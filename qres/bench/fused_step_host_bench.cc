// The host side of the fused CUDA step, timed without a GPU: the optimizers' CUDA path (state
// lookups, the tensor table, the quantizer's bookkeeping) on the ResNet-32 parameter set, with a
// backend that launches nothing. What a GPU adds on top: one pinned copy when the table changed
// and at most two kernel launches (about 2-3 µs each on the host). The budget it is compared
// with is issue 6's target for a whole ResNet-32 step on an H200: 20 µs. Each optimizer is timed as
// train steps it without and with CUDA graphs (graph mode: the step's values uploaded every step,
// its launch left to the graph; qres/optim/cuda_stepper.h).
//
//   bazel run -c opt //qres/bench:fused_step_host_bench
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "c10/core/GradMode.h"
#include "gflags/gflags.h"
#include "qres/base/allocator.h"
#include "qres/bench/bench_flags.h"
#include "qres/bench/parameter_sets.h"
#include "qres/optim/adam.h"
#include "qres/optim/cuda/kernel_stepper.h"
#include "qres/optim/optimizer.h"

DEFINE_int32(rounds, 10, "rounds; each times --steps steps of every optimizer in turn");
DEFINE_int32(steps, 2000, "steps per optimizer per round");

namespace {

using Clock = std::chrono::steady_clock;

// Keeps what the kernels would read (the rows, the block-to-row map); launches nothing. Counts
// the rows' uploads.
class NoKernels final : public qres::optim::KernelStepper::Backend {
 public:
  void BeginStep(c10::Device) override {}
  const void* Upload(Buffer which, const void* data, size_t bytes, c10::Device) override {
    if (which == Buffer::kRows) ++uploads;
    std::vector<char>& buffer = buffers_[static_cast<int>(which)];
    buffer.assign(static_cast<const char*>(data), static_cast<const char*>(data) + bytes);
    return buffer.data();
  }
  void Launch(const qres::optim::cuda::StepLaunch&, c10::Device) override {}
  static inline int64_t uploads = 0;

 private:
  std::vector<char> buffers_[3];  // by Buffer
};

}  // namespace

int main(int argc, char** argv) {
  qres::KeepFreedMemoryForReuse();
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (!qres::bench::AllAtLeastOne("fused_step_host_bench", {{"rounds", FLAGS_rounds}, {"steps", FLAGS_steps}})) {
    return 1;
  }
  qres::optim::RegisterCudaStepper([]() -> std::unique_ptr<qres::optim::CudaStepper> {
    return std::make_unique<qres::optim::KernelStepper>(std::make_unique<NoKernels>());
  });
  qres::optim::SetFusedCudaPathForCpuTensors(true);

  at::NoGradGuard no_grad;
  // The last: QtAdamW with two parameter groups, the 1-D tensors (biases, BatchNorm) without the
  // weights' decay, as many recipes train.
  const std::vector<std::string> names = {"SGD", "QSGD", "AdamW", "QtAdamW", "QtAdamW"};
  std::vector<std::shared_ptr<torch::optim::Optimizer>> optimizers;
  std::vector<std::vector<at::Tensor>> sets;
  for (const std::string& name : names) {
    auto params = qres::bench::ResNetParameters(5);
    if (!params.ok()) {
      std::cerr << "fused_step_host_bench: " << params.status().message() << "\n";
      return 1;
    }
    qres::optim::OptimizerSpec optimizer_spec;
    optimizer_spec.lr = 1e-3;
    const bool two_groups = optimizers.size() == 4;
    std::vector<at::Tensor> weights, vectors;
    for (const at::Tensor& p : *params) (two_groups && p.dim() == 1 ? vectors : weights).push_back(p);
    if (two_groups) optimizer_spec.optim_params = "weight_decay=0.01";
    auto optimizer = qres::optim::OptimizerRegistry::Create(name, weights, optimizer_spec);
    if (!optimizer.ok()) {
      std::cerr << optimizer.status().message() << "\n";
      return 1;
    }
    if (two_groups) {
      auto options = (*optimizer)->param_groups()[0].options().clone();
      static_cast<qres::optim::AdamOptions&>(*options).weight_decay(0.0);
      (*optimizer)->add_param_group(torch::optim::OptimizerParamGroup(vectors, std::move(options)));
    }
    optimizers.push_back(std::move(*optimizer));
    sets.push_back(*params);
  }
  std::cout << absl::StrFormat(
      "ResNet-32 parameter set (%d tensors): host time of the fused CUDA step "
      "without kernels, best of %d rounds of %d steps\n\n",
      sets[0].size(), FLAGS_rounds, FLAGS_steps);
  std::vector<double> best(names.size(), 1e30), best_graph_mode(names.size(), 1e30);
  std::vector<int64_t> uploads(names.size(), 0);
  for (int round = 0; round < FLAGS_rounds; ++round) {
    for (size_t c = 0; c < names.size(); ++c) {
      auto& optimizer = dynamic_cast<qres::optim::QresOptimizer&>(*optimizers[c]);
      for (const bool graph_mode : {false, true}) {
        optimizer.SetGraphMode(graph_mode);
        const int64_t uploads_before = NoKernels::uploads;
        const auto start = Clock::now();
        for (int i = 0; i < FLAGS_steps; ++i) optimizers[c]->step();
        const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / FLAGS_steps;
        double& figure = graph_mode ? best_graph_mode[c] : best[c];
        figure = std::min(figure, us);
        if (!graph_mode) uploads[c] += NoKernels::uploads - uploads_before;
      }
    }
  }
  std::cout << absl::StrFormat("| %-17s | %8s | %15s | %22s | %20s |\n", "optimizer", "us/step", "of a 20 us step",
                               "table uploads per step", "graph mode: us/step");
  std::cout << "|-------------------|----------|-----------------|------------------------|----------------------|\n";
  for (size_t c = 0; c < names.size(); ++c) {
    std::cout << absl::StrFormat("| %-17s | %8.2f | %14.0f%% | %22.3f | %20.2f |\n",
                                 c == 4 ? "QtAdamW, 2 groups" : names[c], best[c], 100.0 * best[c] / 20.0,
                                 static_cast<double>(uploads[c]) / (FLAGS_rounds * FLAGS_steps), best_graph_mode[c]);
  }
  return 0;
}
