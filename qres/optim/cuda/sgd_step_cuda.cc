// Connects the CUDA SGD kernels (sgd_step.cu) to qres::optim::Sgd: registered at start-up.
#include <vector>

#include "ATen/cuda/CUDAContext.h"
#include "c10/util/Exception.h"
#include "qres/optim/cuda/adam_step.h"
#include "qres/optim/cuda/device_table.h"
#include "qres/optim/cuda/sgd_step.h"
#include "qres/optim/sgd.h"

namespace qres::optim {
namespace {

void SgdStepCuda(const std::vector<SgdCudaTensor>& tensors, const SgdCudaScalars& scalars,
                 bool add_updates) {
  const c10::Device device = tensors.front().param.device();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  std::vector<int64_t> numels(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) numels[i] = tensors[i].param.numel();
  cudaError_t status;
  if (add_updates) {  // param += update: the Adam kernels' second launch, without decay
    const std::vector<int64_t> offsets = cuda::ChunkOffsets(numels, cuda::kAdamChunk);
    std::vector<cuda::AdamTensor> table(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      table[i] = {tensors[i].param.data_ptr<float>(), nullptr, nullptr, nullptr,
                  tensors[i].update.data_ptr<float>(), numels[i], 0.0f, 0.0f};
    }
    const at::Tensor device_table = cuda::ToDevice(table, device);
    const at::Tensor device_offsets = cuda::ToDevice(offsets, device);
    cuda::AdamLaunch launch{reinterpret_cast<const cuda::AdamTensor*>(device_table.data_ptr()),
                            reinterpret_cast<const int64_t*>(device_offsets.data_ptr()),
                            static_cast<int64_t>(tensors.size()), offsets.back(), 0, 0, 0, 0, 0, 0};
    status = cuda::LaunchAddUpdates(launch, stream);
  } else {
    const std::vector<int64_t> offsets = cuda::ChunkOffsets(numels, cuda::kSgdChunk);
    std::vector<cuda::SgdTensor> table(tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) {
      const SgdCudaTensor& t = tensors[i];
      table[i] = {t.param.data_ptr<float>(), t.grad.data_ptr<float>(),
                  t.momentum_buffer.defined() ? t.momentum_buffer.data_ptr<float>() : nullptr,
                  t.update.defined() ? t.update.data_ptr<float>() : nullptr, numels[i],
                  t.first ? 1 : 0};
    }
    const at::Tensor device_table = cuda::ToDevice(table, device);
    const at::Tensor device_offsets = cuda::ToDevice(offsets, device);
    cuda::SgdLaunch launch{reinterpret_cast<const cuda::SgdTensor*>(device_table.data_ptr()),
                           reinterpret_cast<const int64_t*>(device_offsets.data_ptr()),
                           static_cast<int64_t>(tensors.size()),
                           offsets.back(),
                           scalars.weight_decay,
                           scalars.momentum,
                           scalars.one_minus_dampening,
                           scalars.neg_lr,
                           scalars.nesterov};
    status = cuda::LaunchSgdStep(launch, stream);
  }
  TORCH_CHECK(status == cudaSuccess, "qres CUDA SGD step: ", cudaGetErrorString(status));
}

[[maybe_unused]] const bool registered = [] {
  RegisterSgdCuda(&SgdStepCuda);
  return true;
}();

}  // namespace
}  // namespace qres::optim
