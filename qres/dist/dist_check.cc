// dist_check: connects the ranks a launcher started (torchrun --no-python, or the variables set by
// hand) and checks the collectives qres relies on: an allreduce sum, a broadcast from rank 0, a
// barrier, on CPU tensors (Gloo) and, with --backend=nccl, on this rank's GPU (LOCAL_RANK) too.
// Prints "rank R of N: collectives ok", or one line saying what failed.
//
//   torchrun --nproc_per_node=2 --no-python bazel-bin/qres/dist/dist_check
//   torchrun --nproc_per_node=1 --no-python bazel-bin/qres/dist/dist_check --backend=nccl  (--config=cuda)
#include <chrono>
#include <iostream>
#include <thread>
#include <vector>

#include "ATen/ops/equal.h"
#include "ATen/ops/full.h"
#include "absl/strings/str_cat.h"
#include "gflags/gflags.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/dist/environment.h"
#include "qres/dist/process_group.h"

DEFINE_int32(timeout_s, 60, "seconds every rank has to join and each collective to finish");
DEFINE_int32(linger_s, 0,
             "rank 0 serves the store this many seconds more after its checks, so that a process "
             "started late (a doubled rank, in a test) still gets an answer");
DEFINE_string(backend, "gloo", "gloo (CPU tensors) or nccl (CPU tensors through Gloo, GPU tensors through NCCL)");

namespace qres::dist {
namespace {

absl::Status Check() {
  QRES_ASSIGN_OR_RETURN(const std::optional<Environment> env, EnvironmentFromVariables());
  if (!env) return absl::FailedPreconditionError("not launched as a rank: RANK and WORLD_SIZE are not set");
  const bool nccl = FLAGS_backend == "nccl";
  QRES_ASSIGN_OR_RETURN(const Transport transport, ChooseTransport(FLAGS_backend, /*cuda=*/nccl));
  QRES_ASSIGN_OR_RETURN(Group group, Connect(*env, transport, std::chrono::seconds(FLAGS_timeout_s)));
  const int rank = env->rank, size = env->world_size;
  std::vector<c10::Device> devices = {c10::Device(c10::kCPU)};
  if (nccl) devices.emplace_back(c10::kCUDA, static_cast<c10::DeviceIndex>(env->local_rank));
  for (const c10::Device& device : devices) {
    QRES_RETURN_IF_ERROR(
        CallTorch(absl::StrCat("rank ", rank, ": a collective on ", device.str(), " failed"), [&]() -> absl::Status {
          const at::TensorOptions on = at::TensorOptions().device(device);
          std::vector<at::Tensor> summed = {at::full({3}, static_cast<float>(rank + 1), on)};
          group.process_group->allreduce(summed)->wait();
          const float expected = static_cast<float>(size * (size + 1) / 2);
          if (!at::equal(summed[0], at::full({3}, expected, on))) {
            return absl::DataLossError(absl::StrCat("rank ", rank, ": allreduce on ", device.str(), " gave ",
                                                    summed[0][0].item<float>(), ", not ", expected));
          }
          std::vector<at::Tensor> shared = {at::full({2}, rank == 0 ? 42.0f : -1.0f, on)};
          group.process_group->broadcast(shared)->wait();
          if (!at::equal(shared[0], at::full({2}, 42.0f, on))) {
            return absl::DataLossError(
                absl::StrCat("rank ", rank, ": broadcast on ", device.str(), " gave ", shared[0][0].item<float>()));
          }
          return absl::OkStatus();
        }));
  }
  QRES_RETURN_IF_ERROR(
      CallTorch(absl::StrCat("rank ", rank, ": the barrier failed"), [&] { group.process_group->barrier()->wait(); }));
  std::cout << "rank " << rank << " of " << size << ": collectives ok" << std::endl;
  if (rank == 0) std::this_thread::sleep_for(std::chrono::seconds(FLAGS_linger_s));
  return absl::OkStatus();
}

}  // namespace
}  // namespace qres::dist

int main(int argc, char** argv) {
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  const absl::Status status = qres::dist::Check();
  if (status.ok()) return 0;
  std::cerr << "dist_check: " << status.message() << std::endl;
  return 1;
}
