// The reference-form Adam step on the GPU (CUDA-free header): all tensors of a step in one
// launch (multi-tensor apply: a table of tensors, fixed-size chunks, one block per chunk).
// Arithmetic is fused_cpu::AdamReference's, operation for operation (an FMA only where the CPU
// loop has one), so CPU and GPU give the same bits.
#ifndef QRES_OPTIM_CUDA_ADAM_STEP_H_
#define QRES_OPTIM_CUDA_ADAM_STEP_H_

#include <cstdint>

#include <cuda_runtime_api.h>

namespace qres::optim::cuda {

// One parameter tensor of the step (copied to the device as is).
struct AdamTensor {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  float* update;   // nullptr: add the update to param here; else write h for the quantizer
  int64_t numel;
  float neg_step;  // −α_t, rounded to float on the host (as the CPU loop does)
  float decay;     // −lr·wd for the decoupled decay after the update (0: none); only without update
};

struct AdamLaunch {
  const AdamTensor* tensors;     // device
  const int64_t* chunk_offsets;  // device, num_tensors + 1
  int64_t num_tensors;
  int64_t total_chunks;
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps, l2;  // rounded to float on the host
};

constexpr int64_t kAdamChunk = 4096;

cudaError_t LaunchAdamStep(const AdamLaunch& launch, cudaStream_t stream);

// param <- fl(param + update), then param <- fma(param, decay, param) when decay != 0: adds the
// quantized updates and applies the reference's decoupled decay. Reuses AdamTensor's param,
// update, numel and decay.
cudaError_t LaunchAddUpdates(const AdamLaunch& launch, cudaStream_t stream);

}  // namespace qres::optim::cuda

#endif  // QRES_OPTIM_CUDA_ADAM_STEP_H_
