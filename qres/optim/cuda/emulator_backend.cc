#include "qres/optim/cuda/emulator_backend.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "c10/util/Exception.h"
#include "qres/optim/cuda/kernel_args.h"
#include "qres/optim/cuda/simt_emulator.h"

#define QRES_LAUNCH(kernel, blocks, launch, stream) ::qres::simt::Launch(kernel, (blocks), kThreads, (launch))
#define QRES_LAST_ERROR() 0

#include "qres/optim/cuda/kernels.inl"

namespace qres::optim {
namespace {

int64_t row_uploads = 0;

class EmulatedBackend final : public KernelStepper::Backend {
 public:
  void BeginStep(c10::Device) override {}  // every launch runs to its end before the next

  const void* Upload(Buffer which, const void* data, size_t bytes, c10::Device device) override {
    TORCH_CHECK(device.is_cpu(), "the emulated fused step runs on CPU tensors, not ", device);
    if (which == Buffer::kRows) ++row_uploads;
    // 8-byte words: the rows' alignment.
    std::vector<uint64_t>& buffer = buffers_[static_cast<int>(which)];
    buffer.assign((bytes + sizeof(uint64_t) - 1) / sizeof(uint64_t), 0);
    std::memcpy(buffer.data(), data, bytes);
    return buffer.data();
  }

  void Launch(const cuda::StepLaunch& launch, c10::Device) override {
    const int status = cuda::LaunchFusedStep(launch, nullptr);
    TORCH_CHECK(status == 0, "qres emulated fused step: error ", status);
  }

 private:
  std::vector<uint64_t> buffers_[3];  // by Buffer; assign() keeps each at its address
};

}  // namespace

std::unique_ptr<KernelStepper::Backend> MakeEmulatedBackend() { return std::make_unique<EmulatedBackend>(); }

int64_t EmulatedRowUploads() { return row_uploads; }

}  // namespace qres::optim
