// Connects the CUDA Adam kernels (adam_step.cu) to qres::optim::Adam: registered at start-up.
#include <vector>

#include "ATen/cuda/CUDAContext.h"
#include "c10/util/Exception.h"
#include "qres/optim/adam.h"
#include "qres/optim/cuda/adam_step.h"
#include "qres/optim/cuda/device_table.h"

namespace qres::optim {
namespace {

void AdamStepCuda(const std::vector<AdamCudaTensor>& tensors, const AdamCudaScalars& scalars,
                  bool add_updates) {
  std::vector<cuda::AdamTensor> table(tensors.size());
  std::vector<int64_t> numels(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const AdamCudaTensor& t = tensors[i];
    table[i] = {t.param.data_ptr<float>(),
                t.grad.data_ptr<float>(),
                t.exp_avg.data_ptr<float>(),
                t.exp_avg_sq.data_ptr<float>(),
                t.update.defined() ? t.update.data_ptr<float>() : nullptr,
                t.param.numel(),
                t.neg_step,
                t.decay};
    numels[i] = t.param.numel();
  }
  const c10::Device device = tensors.front().param.device();
  const std::vector<int64_t> offsets = cuda::ChunkOffsets(numels, cuda::kAdamChunk);
  const at::Tensor device_table = cuda::ToDevice(table, device);
  const at::Tensor device_offsets = cuda::ToDevice(offsets, device);
  cuda::AdamLaunch launch{reinterpret_cast<const cuda::AdamTensor*>(device_table.data_ptr()),
                          reinterpret_cast<const int64_t*>(device_offsets.data_ptr()),
                          static_cast<int64_t>(tensors.size()),
                          offsets.back(),
                          scalars.beta1,
                          scalars.one_minus_beta1,
                          scalars.beta2,
                          scalars.one_minus_beta2,
                          scalars.eps,
                          scalars.l2};
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  const cudaError_t status = add_updates ? cuda::LaunchAddUpdates(launch, stream) : cuda::LaunchAdamStep(launch, stream);
  TORCH_CHECK(status == cudaSuccess, "qres CUDA Adam step: ", cudaGetErrorString(status));
}

[[maybe_unused]] const bool registered = [] {
  RegisterAdamCuda(&AdamStepCuda);
  return true;
}();

}  // namespace
}  // namespace qres::optim
