#include "qres/optim/cuda/adam_step.h"

#include "qres/optim/cuda/multi_tensor.cuh"

namespace qres::optim::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void AdamKernel(AdamLaunch a) {
  const int64_t i = TensorOfBlock(a.chunk_offsets, a.num_tensors, blockIdx.x);
  const AdamTensor t = a.tensors[i];
  const int64_t begin = (blockIdx.x - a.chunk_offsets[i]) * kAdamChunk;
  const int64_t end = begin + kAdamChunk < t.numel ? begin + kAdamChunk : t.numel;
  for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) {
    float g = t.grad[j];
    if (a.l2 != 0.0f) g = __fmaf_rn(t.param[j], a.l2, g);
    const float m = __fmaf_rn(g, a.one_minus_beta1, __fmul_rn(t.exp_avg[j], a.beta1));
    const float v = __fmaf_rn(__fmul_rn(a.one_minus_beta2, g), g, __fmul_rn(t.exp_avg_sq[j], a.beta2));
    t.exp_avg[j] = m;
    t.exp_avg_sq[j] = v;
    const float denom = __fadd_rn(__fsqrt_rn(v), a.eps);
    if (t.update != nullptr) {
      t.update[j] = __fmul_rn(__fdiv_rn(m, denom), t.neg_step);
    } else {
      float p = __fadd_rn(t.param[j], __fdiv_rn(__fmul_rn(t.neg_step, m), denom));
      if (t.decay != 0.0f) p = __fmaf_rn(p, t.decay, p);
      t.param[j] = p;
    }
  }
}

__global__ void AddUpdatesKernel(AdamLaunch a) {
  const int64_t i = TensorOfBlock(a.chunk_offsets, a.num_tensors, blockIdx.x);
  const AdamTensor t = a.tensors[i];
  const int64_t begin = (blockIdx.x - a.chunk_offsets[i]) * kAdamChunk;
  const int64_t end = begin + kAdamChunk < t.numel ? begin + kAdamChunk : t.numel;
  for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) {
    float p = __fadd_rn(t.param[j], t.update[j]);
    if (t.decay != 0.0f) p = __fmaf_rn(p, t.decay, p);
    t.param[j] = p;
  }
}

}  // namespace

cudaError_t LaunchAdamStep(const AdamLaunch& a, cudaStream_t stream) {
  if (a.total_chunks == 0) return cudaSuccess;
  AdamKernel<<<static_cast<unsigned>(a.total_chunks), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

cudaError_t LaunchAddUpdates(const AdamLaunch& a, cudaStream_t stream) {
  if (a.total_chunks == 0) return cudaSuccess;
  AddUpdatesKernel<<<static_cast<unsigned>(a.total_chunks), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace qres::optim::cuda
