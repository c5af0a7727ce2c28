#include "qres/optim/cuda/bump_quantize.h"

#include "qres/optim/counter_rng.h"
#include "qres/optim/cuda/multi_tensor.cuh"

namespace qres::optim::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kPerThread = kBumpChunk / kThreads;
constexpr int kMaxCandidates = 66;  // index_limit <= 64

// R(fl(h · scale)): the CPU quantizer's operations, each rounded on its own.
__device__ __forceinline__ float Round(float h, float scale, int rounding, uint64_t key, int64_t j) {
  const float x = __fmul_rn(h, scale);
  switch (rounding) {
    case 0: return floorf(__fadd_rn(x, 0.5f));
    case 1: return floorf(x);
    case 2: return rintf(x);  // ties to even
    default: return floorf(__fadd_rn(x, UniformFloat(key, static_cast<uint64_t>(j))));
  }
}

__global__ void ZeroTableKernel(BumpLaunch a) {
  __shared__ unsigned long long sums[kMaxCandidates];
  const int64_t candidates = a.limit + 2;
  for (int k = threadIdx.x; k < candidates; k += blockDim.x) sums[k] = 0;
  __syncthreads();
  const int64_t i = TensorOfBlock(a.chunk_offsets, a.num_tensors, blockIdx.x);
  const BumpTensor t = a.tensors[i];
  const int64_t begin = (blockIdx.x - a.chunk_offsets[i]) * kBumpChunk;
  float h[kPerThread];
  int64_t index[kPerThread];
  int count = 0;
  for (int e = 0; e < kPerThread; ++e) {
    const int64_t j = begin + e * kThreads + threadIdx.x;
    if (j < t.numel) {
      h[count] = t.update[j];
      index[count++] = j;
    }
  }
  for (int64_t k = 0; k < candidates; ++k) {
    const float scale = ldexpf(1.0f, static_cast<int>(k));
    long long sum = 0;
    for (int e = 0; e < count; ++e) {
      const float q = Round(h[e], scale, a.rounding, t.stream_key, index[e]);
      sum += a.count_nonzero ? static_cast<long long>(q != 0.0f) : static_cast<long long>(q);
    }
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_down_sync(0xffffffffu, sum, offset);
    if ((threadIdx.x & 31) == 0 && sum != 0) atomicAdd(&sums[k], static_cast<unsigned long long>(sum));
  }
  __syncthreads();
  for (int k = threadIdx.x; k < candidates; k += blockDim.x) {
    if (sums[k] != 0) atomicAdd(reinterpret_cast<unsigned long long*>(&a.table[i * candidates + k]), sums[k]);
  }
}

// The sequential rule over the table, on one thread (a few hundred tensors at most).
__global__ void ScanKernel(BumpLaunch a) {
  const int64_t candidates = a.limit + 2;
  int64_t n = *a.global_index;
  for (int64_t i = 0; i < a.num_tensors; ++i) {
    const BumpTensor& t = a.tensors[i];
    int64_t k = a.global_scope ? n : a.tensor_index[t.id];
    if (t.checked) {
      while (k <= a.limit && a.table[i * candidates + (k > 0 ? k : 0)] == 0) ++k;
    }
    a.chosen[i] = k;
    if (a.global_scope) n = k; else a.tensor_index[t.id] = k;
  }
  if (a.global_scope) {
    *a.global_index = n;
    *a.trend_slot = static_cast<double>(n);
  } else {
    int64_t top = a.tensor_index_size > 0 ? a.tensor_index[0] : *a.global_index;
    for (int64_t i = 1; i < a.tensor_index_size; ++i) top = a.tensor_index[i] > top ? a.tensor_index[i] : top;
    *a.trend_slot = static_cast<double>(top);
  }
}

__global__ void ApplyKernel(BumpLaunch a) {
  const int64_t i = TensorOfBlock(a.chunk_offsets, a.num_tensors, blockIdx.x);
  const BumpTensor t = a.tensors[i];
  const int64_t k = a.chosen[i];
  const float scale = ldexpf(1.0f, static_cast<int>(k > 0 ? k : 0));
  const int64_t begin = (blockIdx.x - a.chunk_offsets[i]) * kBumpChunk;
  for (int e = 0; e < kPerThread; ++e) {
    const int64_t j = begin + e * kThreads + threadIdx.x;
    if (j < t.numel) t.update[j] = __fdiv_rn(Round(t.update[j], scale, a.rounding, t.stream_key, j), scale);
  }
}

}  // namespace

cudaError_t LaunchBumpQuantize(const BumpLaunch& a, cudaStream_t stream) {
  if (a.num_tensors == 0) return cudaSuccess;
  if (a.limit + 2 > kMaxCandidates) return cudaErrorInvalidValue;
  cudaError_t status = cudaMemsetAsync(a.table, 0, sizeof(long long) * a.num_tensors * (a.limit + 2), stream);
  if (status != cudaSuccess) return status;
  ZeroTableKernel<<<static_cast<unsigned>(a.total_chunks), kThreads, 0, stream>>>(a);
  ScanKernel<<<1, 1, 0, stream>>>(a);
  ApplyKernel<<<static_cast<unsigned>(a.total_chunks), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace qres::optim::cuda
