// Multi-tensor apply on the device: a launch covers several tensors, each cut into fixed-size
// chunks, one block per chunk; chunk_offsets (device_table.h's ChunkOffsets) says which tensor a
// block works on.
#ifndef QRES_OPTIM_CUDA_MULTI_TENSOR_CUH_
#define QRES_OPTIM_CUDA_MULTI_TENSOR_CUH_

#include <cstdint>

namespace qres::optim::cuda {

// The tensor of block `block`: the last i with offsets[i] <= block (binary search).
__device__ __forceinline__ int64_t TensorOfBlock(const int64_t* offsets, int64_t num_tensors, int64_t block) {
  int64_t lo = 0, hi = num_tensors - 1;
  while (lo < hi) {
    const int64_t mid = (lo + hi + 1) / 2;
    if (offsets[mid] <= block) lo = mid; else hi = mid - 1;
  }
  return lo;
}

}  // namespace qres::optim::cuda

#endif  // QRES_OPTIM_CUDA_MULTI_TENSOR_CUH_
