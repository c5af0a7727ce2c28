// The fused step on the GPU: KernelStepper with a backend that copies the tensor table to device
// memory (through pinned memory, on the current stream, without a sync) and launches
// kernels.cu's kernels on the current stream, after the previous step even when that ran on
// another stream. Registered at start-up.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "ATen/cuda/CUDAContext.h"
#include "ATen/ops/empty.h"
#include "c10/cuda/CUDAEvent.h"
#include "c10/cuda/CUDAGuard.h"
#include "c10/util/Exception.h"
#include "qres/optim/cuda/kernel_args.h"
#include "qres/optim/cuda/kernel_stepper.h"

namespace qres::optim {
namespace {

class CudaBackend final : public KernelStepper::Backend {
 public:
  // On one stream, stream order already puts a step after the previous one. When the current
  // stream changed since the last step, the new one waits for all the old one had queued by now
  // (an event: no host sync); steady state costs one stream lookup.
  void BeginStep(c10::Device device) override {
    const c10::cuda::CUDAStream current = at::cuda::getCurrentCUDAStream(device.index());
    if (last_stream_.has_value() && *last_stream_ != current) {
      c10::cuda::CUDAEvent previous_step_queued;
      previous_step_queued.record(*last_stream_);
      previous_step_queued.block(current);
    }
    last_stream_ = current;
  }

  const void* Upload(Buffer which, const void* data, size_t size, c10::Device device) override {
    const int64_t bytes = static_cast<int64_t>(size);
    at::Tensor& buffer = buffers_[static_cast<int>(which)];
    GrowToAtLeast(buffer, bytes, at::kByte, device, /*zeroed=*/false);
    at::Tensor host = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
    std::memcpy(host.data_ptr(), data, size);
    // Stream-ordered: kernels still reading the previous contents run before this copy.
    buffer.slice(0, 0, bytes).copy_(host, /*non_blocking=*/true);
    return buffer.data_ptr();
  }

  void Launch(const cuda::StepLaunch& launch, c10::Device device) override {
    const c10::cuda::CUDAGuard guard(device);  // the parameters' GPU, whichever is current
    const int status = cuda::LaunchFusedStep(launch, at::cuda::getCurrentCUDAStream(device.index()));
    TORCH_CHECK(status == 0, "qres fused CUDA step: ", cudaGetErrorString(static_cast<cudaError_t>(status)));
  }

 private:
  at::Tensor buffers_[3];                             // the kernels' copies, by Buffer
  std::optional<c10::cuda::CUDAStream> last_stream_;  // of the last step
};

[[maybe_unused]] const bool registered = [] {
  RegisterCudaStepper([]() -> std::unique_ptr<CudaStepper> {
    return std::make_unique<KernelStepper>(std::make_unique<CudaBackend>());
  });
  return true;
}();

}  // namespace
}  // namespace qres::optim
