// Connects the CUDA bump kernels (bump_quantize.cu) to qres::optim::Quantizer: registered at
// start-up, called by Quantizer::QuantizeInPlace for dense float32 CUDA updates. The tensor table
// goes to the device through pinned memory without a host sync; the index stays on the device.
#include <vector>

#include "ATen/cuda/CUDAContext.h"
#include "ATen/ops/cat.h"
#include "ATen/ops/empty.h"
#include "ATen/ops/full.h"
#include "ATen/ops/zeros.h"
#include "c10/util/Exception.h"
#include "qres/optim/counter_rng.h"
#include "qres/optim/cuda/bump_quantize.h"
#include "qres/optim/cuda/device_table.h"
#include "qres/optim/quantizer.h"

namespace qres::optim {
namespace {

void BumpQuantizeCuda(std::vector<at::Tensor>& updates, const std::vector<TensorStep>& steps,
                      const QuantizerOptions& options, uint64_t call, CudaBumpState& state) {
  const c10::Device device = updates[0].device();
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  int64_t max_id = 0;
  for (const TensorStep& step : steps) max_id = std::max(max_id, step.id);
  if (state.tensor_indices.numel() <= max_id) {  // new tensors start at the initial index
    at::Tensor grown = at::full({max_id + 1 - state.tensor_indices.numel()}, options.initial_index, longs);
    state.tensor_indices = at::cat({state.tensor_indices, grown});
  }
  if (!state.trend.defined() || state.trend_size >= state.trend.numel()) {
    at::Tensor grown = at::empty({std::max<int64_t>(1024, state.trend_size)},
                                 at::TensorOptions().dtype(at::kDouble).device(device));
    state.trend = state.trend.defined() ? at::cat({state.trend.slice(0, 0, state.trend_size), grown}) : grown;
  }

  std::vector<cuda::BumpTensor> tensors(updates.size());
  std::vector<int64_t> numels(updates.size());
  for (size_t i = 0; i < updates.size(); ++i) {
    tensors[i] = {updates[i].data_ptr<float>(), updates[i].numel(), steps[i].id,
                  StochasticStreamKey(options.seed, call, static_cast<uint64_t>(steps[i].id)),
                  (options.check_first_step || !steps[i].first) ? 1 : 0};
    numels[i] = updates[i].numel();
  }
  const std::vector<int64_t> offsets = cuda::ChunkOffsets(numels, cuda::kBumpChunk);
  const at::Tensor device_tensors = cuda::ToDevice(tensors, device);
  const at::Tensor device_offsets = cuda::ToDevice(offsets, device);
  const int64_t candidates = options.index_limit + 2;
  at::Tensor table = at::empty({static_cast<int64_t>(updates.size()) * candidates}, longs);
  at::Tensor chosen = at::empty({static_cast<int64_t>(updates.size())}, longs);

  cuda::BumpLaunch launch;
  launch.tensors = reinterpret_cast<const cuda::BumpTensor*>(device_tensors.data_ptr());
  launch.chunk_offsets = reinterpret_cast<const int64_t*>(device_offsets.data_ptr());
  launch.num_tensors = static_cast<int64_t>(updates.size());
  launch.total_chunks = offsets.back();
  launch.rounding = static_cast<int>(options.rounding);
  launch.count_nonzero = options.zero_test == ZeroTest::kAllZero;
  launch.global_scope = options.scope == IndexScope::kGlobal;
  launch.limit = options.index_limit;
  launch.table = reinterpret_cast<long long*>(table.data_ptr<int64_t>());
  launch.global_index = state.index.data_ptr<int64_t>();
  launch.tensor_index = state.tensor_indices.data_ptr<int64_t>();
  launch.tensor_index_size = state.tensor_indices.numel();
  launch.chosen = chosen.data_ptr<int64_t>();
  launch.trend_slot = state.trend.data_ptr<double>() + state.trend_size;
  const cudaError_t status = cuda::LaunchBumpQuantize(launch, at::cuda::getCurrentCUDAStream());
  TORCH_CHECK(status == cudaSuccess, "qres CUDA bump quantization: ", cudaGetErrorString(status));
  ++state.trend_size;
}

[[maybe_unused]] const bool registered = [] {
  RegisterCudaBump(&BumpQuantizeCuda);
  return true;
}();

}  // namespace
}  // namespace qres::optim
