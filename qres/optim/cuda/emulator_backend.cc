#include "qres/optim/cuda/emulator_backend.h"

#include <vector>

#include "c10/util/Exception.h"
#include "qres/optim/cuda/kernel_args.h"
#include "qres/optim/cuda/simt_emulator.h"

#define QRES_LAUNCH(kernel, blocks, launch, stream) ::qres::simt::Launch(kernel, (blocks), kThreads, (launch))
#define QRES_LAST_ERROR() 0

#include "qres/optim/cuda/kernels.inl"

namespace qres::optim {
namespace {

class EmulatedBackend final : public KernelStepper::Backend {
 public:
  void BeginStep(c10::Device) override {}  // every launch runs to its end before the next

  const cuda::StepRow* Upload(const std::vector<cuda::StepRow>& rows, c10::Device device) override {
    TORCH_CHECK(device.is_cpu(), "the emulated fused step runs on CPU tensors, not ", device);
    table_ = rows;
    return table_.data();
  }

  void Launch(const cuda::StepLaunch& launch, c10::Device) override {
    const int status = cuda::LaunchFusedStep(launch, nullptr);
    TORCH_CHECK(status == 0, "qres emulated fused step: error ", status);
  }

 private:
  std::vector<cuda::StepRow> table_;
};

}  // namespace

std::unique_ptr<KernelStepper::Backend> MakeEmulatedBackend() { return std::make_unique<EmulatedBackend>(); }

}  // namespace qres::optim
