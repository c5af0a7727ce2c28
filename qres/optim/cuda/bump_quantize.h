// The bump schedule on the GPU (CUDA-free header: raw pointers and a stream).
//
// One call quantizes every tensor's update of an optimizer step and decides every tensor's index
// on the device, so step() never waits for the GPU:
//   1. a zero table: for each tensor i and candidate index k in [0, limit + 1], the exact (int64)
//      sum of R(h·2^k) over the tensor (or its count of nonzero values), all tensors in one launch;
//   2. one thread scans the tensors in order as the sequential rule does (qres::optim::
//      ResolveBumpIndices), reading the table, and updates the global or per-tensor index;
//   3. h <- R(h·2^n_i) / 2^n_i, all tensors in one launch.
// Arithmetic is the CPU quantizer's, op for op (no contracted multiply-adds), so the results are
// bit-identical to it.
#ifndef QRES_OPTIM_CUDA_BUMP_QUANTIZE_H_
#define QRES_OPTIM_CUDA_BUMP_QUANTIZE_H_

#include <cstdint>

#include <cuda_runtime_api.h>

namespace qres::optim::cuda {

// One tensor's update, as the kernels see it (this struct is copied to the device as is).
struct BumpTensor {
  float* update;
  int64_t numel;
  int64_t id;            // the tensor's position in the optimizer: per-tensor index, RNG stream
  uint64_t stream_key;   // StochasticStreamKey(seed, call, id)
  int64_t checked;       // 0: the first update of a tensor that check_first_step exempts
};

struct BumpLaunch {
  const BumpTensor* tensors;     // device, num_tensors
  const int64_t* chunk_offsets;  // device, num_tensors + 1: prefix sums of chunks per tensor
  int64_t num_tensors;
  int64_t total_chunks;
  int rounding;          // 0 half_up, 1 floor, 2 nearest_even, 3 stochastic
  bool count_nonzero;    // the all_zero test
  bool global_scope;
  int64_t limit;         // index_limit: an index stops once it exceeds it
  long long* table;      // device workspace, num_tensors * (limit + 2); zeroed by the launcher
  int64_t* global_index;   // device, 1
  int64_t* tensor_index;   // device, indexed by BumpTensor::id (per_tensor scope)
  int64_t tensor_index_size;
  int64_t* chosen;       // device workspace, num_tensors: each tensor's final index
  double* trend_slot;    // device: receives this step's reported index
};

// Elements per block in the multi-tensor kernels.
constexpr int64_t kBumpChunk = 2048;

cudaError_t LaunchBumpQuantize(const BumpLaunch& launch, cudaStream_t stream);

}  // namespace qres::optim::cuda

#endif  // QRES_OPTIM_CUDA_BUMP_QUANTIZE_H_
