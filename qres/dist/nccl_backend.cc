// c10d's NCCL backend for a --config=cuda build (design.md "Distributed": the wheel ships nccl.h and
// libtorch_cuda finds its library).
#include "qres/dist/nccl_backend.h"

#include "c10/cuda/CUDAFunctions.h"
#include "torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp"

namespace qres::dist {

bool NcclAvailable() { return true; }

c10::intrusive_ptr<c10d::Backend> MakeNcclBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                  int device_index, std::chrono::milliseconds timeout) {
  const int devices = c10::cuda::device_count();
  TORCH_CHECK(device_index < devices, "this machine has ", devices,
              " GPU(s); start at most that many ranks per machine (torchrun --nproc_per_node)");
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(device_index));
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
  // Binds the communicator to this GPU now, so a rank that cannot join fails at the rendezvous
  // rather than in its first training step.
  backend->eagerConnectSingleDevice(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device_index)));
  return backend;
}

}  // namespace qres::dist
