// Tables of kernel arguments sent to the GPU without a host sync: written into pinned host
// memory, copied on the current stream (the caching host allocator keeps the block until the
// copy is done).
#ifndef QRES_OPTIM_CUDA_DEVICE_TABLE_H_
#define QRES_OPTIM_CUDA_DEVICE_TABLE_H_

#include <cstdint>
#include <cstring>
#include <vector>

#include "ATen/ops/empty.h"
#include "c10/core/Device.h"

namespace qres::optim::cuda {

template <typename T>
at::Tensor ToDevice(const std::vector<T>& rows, c10::Device device) {
  const size_t bytes = rows.size() * sizeof(T);
  at::Tensor host = at::empty({static_cast<int64_t>(bytes)},
                              at::TensorOptions().dtype(at::kByte).pinned_memory(true));
  std::memcpy(host.data_ptr(), rows.data(), bytes);
  return host.to(device, /*non_blocking=*/true);
}

// Prefix sums of each tensor's chunk count: block b works on chunk b − offsets[i] of the tensor
// i with offsets[i] <= b < offsets[i + 1].
inline std::vector<int64_t> ChunkOffsets(const std::vector<int64_t>& numels, int64_t chunk) {
  std::vector<int64_t> offsets(numels.size() + 1, 0);
  for (size_t i = 0; i < numels.size(); ++i) offsets[i + 1] = offsets[i] + (numels[i] + chunk - 1) / chunk;
  return offsets;
}

}  // namespace qres::optim::cuda

#endif  // QRES_OPTIM_CUDA_DEVICE_TABLE_H_
