#include "qres/optim/cuda/sgd_step.h"

#include "qres/optim/cuda/multi_tensor.cuh"

namespace qres::optim::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void SgdKernel(SgdLaunch a) {
  const int64_t i = TensorOfBlock(a.chunk_offsets, a.num_tensors, blockIdx.x);
  const SgdTensor t = a.tensors[i];
  const int64_t begin = (blockIdx.x - a.chunk_offsets[i]) * kSgdChunk;
  const int64_t end = begin + kSgdChunk < t.numel ? begin + kSgdChunk : t.numel;
  for (int64_t j = begin + threadIdx.x; j < end; j += kThreads) {
    float d = t.grad[j];
    if (a.weight_decay != 0.0f) d = __fmaf_rn(t.param[j], a.weight_decay, d);
    if (t.momentum_buffer != nullptr) {
      const float buf = t.first ? d : __fmaf_rn(d, a.one_minus_dampening, __fmul_rn(t.momentum_buffer[j], a.momentum));
      t.momentum_buffer[j] = buf;
      d = a.nesterov ? __fmaf_rn(buf, a.momentum, d) : buf;
    }
    if (t.update != nullptr) {
      t.update[j] = __fmul_rn(d, a.neg_lr);
    } else {
      t.param[j] = __fmaf_rn(d, a.neg_lr, t.param[j]);
    }
  }
}

}  // namespace

cudaError_t LaunchSgdStep(const SgdLaunch& a, cudaStream_t stream) {
  if (a.total_chunks == 0) return cudaSuccess;
  SgdKernel<<<static_cast<unsigned>(a.total_chunks), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace qres::optim::cuda
