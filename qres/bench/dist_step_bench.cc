// One data-parallel training step on the ranks a launcher started (torchrun --no-python): each rank
// runs forward and backward on its share of a fixed synthetic global batch, the gradients are
// summed (during backward in buckets, or in one allreduce after it), and the optimizer steps. Rank
// 0 prints one line: the median time per step, global images per second, and the median time of
// one allreduce of all the gradients alone (20, after 5 warm-ups) (its peer: the same size through Python's
// torch.distributed, in tools/bench_dist.sh).
//
//   torchrun --nproc_per_node=2 --no-python bazel-bin/qres/bench/dist_step_bench --net=CNN --batch=100
#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "ATen/Parallel.h"
#include "ATen/ops/cross_entropy_loss.h"
#include "ATen/ops/ones.h"
#include "ATen/ops/randint.h"
#include "ATen/ops/randn.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gflags/gflags.h"
#include "qres/base/allocator.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/bench/bench_flags.h"
#include "qres/dist/data_parallel.h"
#include "qres/dist/environment.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"

DEFINE_string(net, "CNN", "net");
DEFINE_string(net_params, "", "the net's options k=v,... as train takes them (ResNet: layers=3 is ResNet-20)");
DEFINE_int32(batch, 100, "the global batch, split over the ranks");
DEFINE_int32(channels, 1, "input channels");
DEFINE_int32(size, 28, "input height and width");
DEFINE_string(algo, "QtAdamW", "optimizer");
DEFINE_int32(steps, 30, "timed steps (after 5 warm-up steps), in groups of 5");
DEFINE_int32(bucket_mb, 25, "sum the gradients in buckets of this many MiB during backward; 0: one allreduce after it");
DEFINE_int32(threads, 1, "CPU threads per rank");

namespace qres::bench {
namespace {

constexpr int kGroup = 5;

double Median(std::vector<double> values) {
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2];
}

absl::Status Run() {
  QRES_ASSIGN_OR_RETURN(const std::optional<dist::Environment> env, dist::EnvironmentFromVariables());
  if (!env)
    return absl::FailedPreconditionError("start it with torchrun --no-python (RANK and WORLD_SIZE are not set)");
  if (FLAGS_batch % env->world_size != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch=", FLAGS_batch, " does not split over ", env->world_size, " ranks"));
  }
  at::set_num_threads(FLAGS_threads);
  QRES_ASSIGN_OR_RETURN(std::unique_ptr<dist::DataParallel> ranks,
                        dist::DataParallel::Join(*env, dist::Transport::kGloo, std::chrono::seconds(120)));
  at::manual_seed(0);
  models::ModelSpec spec;
  spec.channels = FLAGS_channels;
  spec.height = spec.width = FLAGS_size;
  spec.options = FLAGS_net_params;
  QRES_ASSIGN_OR_RETURN(std::shared_ptr<models::Net> net, models::CreateModel(FLAGS_net, spec));
  optim::OptimizerSpec optim_spec;
  optim_spec.lr = 1e-3;
  QRES_ASSIGN_OR_RETURN(auto optimizer, optim::OptimizerRegistry::Create(FLAGS_algo, net->parameters(), optim_spec));
  QRES_RETURN_IF_ERROR(ranks->OverlapGradientSums(net->parameters(), int64_t{FLAGS_bucket_mb} << 20));
  const int64_t local = FLAGS_batch / env->world_size;
  const at::Tensor images = at::randn({local, FLAGS_channels, FLAGS_size, FLAGS_size});
  const at::Tensor labels = at::randint(0, 10, {local}, at::kLong);
  const dist::BatchSlice slice = ranks->Slice(FLAGS_batch);
  const auto step = [&] {
    optimizer->zero_grad();
    ranks->Backward(at::cross_entropy_loss(net->forward(images), labels), slice, net->parameters());
    optimizer->step();
  };
  int64_t params = 0;
  for (const at::Tensor& p : net->parameters()) params += p.numel();
  return CallTorch("the benchmark", [&] {
    for (int i = 0; i < kGroup; ++i) step();
    std::vector<double> ms_per_step;
    for (int done = 0; done < FLAGS_steps; done += kGroup) {
      ranks->Barrier();  // groups start together
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < kGroup; ++i) step();
      const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
      ms_per_step.push_back(elapsed.count() / kGroup);
    }
    std::vector<double> allreduce_ms;
    at::Tensor flat = at::ones({params});
    for (int i = 0; i < 25; ++i) {  // 5 warm-ups, as its Python peer
      ranks->Barrier();
      const auto start = std::chrono::steady_clock::now();
      ranks->SumInPlace(flat);
      const std::chrono::duration<double, std::milli> elapsed = std::chrono::steady_clock::now() - start;
      if (i >= 5) allreduce_ms.push_back(elapsed.count());
    }
    const double step_ms = Median(ms_per_step);
    if (env->rank == 0) {
      std::cout << absl::StrFormat("ranks %d step_ms %.3f images_per_s %.1f allreduce_ms %.3f params %d\n",
                                   env->world_size, step_ms, FLAGS_batch * 1000.0 / step_ms, Median(allreduce_ms),
                                   params);
    }
  });
}

}  // namespace
}  // namespace qres::bench

int main(int argc, char** argv) {
  qres::KeepFreedMemoryForReuse();  // as the train tool does
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (!qres::bench::AllAtLeastOne("dist_step_bench", {{"batch", FLAGS_batch},
                                                      {"channels", FLAGS_channels},
                                                      {"size", FLAGS_size},
                                                      {"steps", FLAGS_steps},
                                                      {"threads", FLAGS_threads}})) {
    return 1;
  }
  const absl::Status status = qres::bench::Run();
  if (status.ok()) return 0;
  std::cerr << "dist_step_bench: " << status.message() << "\n";
  return 1;
}
