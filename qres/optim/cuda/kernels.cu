// The fused step's kernels for the GPU (the code is in kernels.inl).
#include <cuda_runtime_api.h>

#define QRES_LAUNCH(kernel, blocks, launch, stream) kernel<<<(blocks), kThreads, 0, (stream)>>>(launch)
#define QRES_LAST_ERROR() static_cast<int>(cudaGetLastError())

#include "qres/optim/cuda/kernels.inl"
