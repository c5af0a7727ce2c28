// SGD and QSGD steps on the GPU (CUDA-free header): all tensors of a step in one launch, the
// arithmetic of fused_cpu::Sgd operation for operation (torch.optim.SGD's: weight decay, momentum
// with dampening, Nesterov).
#ifndef QRES_OPTIM_CUDA_SGD_STEP_H_
#define QRES_OPTIM_CUDA_SGD_STEP_H_

#include <cstdint>

#include <cuda_runtime_api.h>

namespace qres::optim::cuda {

struct SgdTensor {
  float* param;
  const float* grad;
  float* momentum_buffer;  // nullptr without momentum
  float* update;           // nullptr: param += −lr·d here; else write h = −lr·d for the quantizer
  int64_t numel;
  int64_t first;           // the momentum buffer starts as a copy of d
};

struct SgdLaunch {
  const SgdTensor* tensors;      // device
  const int64_t* chunk_offsets;  // device, num_tensors + 1
  int64_t num_tensors;
  int64_t total_chunks;
  float weight_decay, momentum, one_minus_dampening, neg_lr;  // rounded to float on the host
  bool nesterov;
};

constexpr int64_t kSgdChunk = 4096;

cudaError_t LaunchSgdStep(const SgdLaunch& launch, cudaStream_t stream);

}  // namespace qres::optim::cuda

#endif  // QRES_OPTIM_CUDA_SGD_STEP_H_
