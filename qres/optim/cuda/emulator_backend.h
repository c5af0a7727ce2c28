// The fused step's kernels run on the CPU by the SIMT emulator (simt_emulator.h): the same
// kernel code as on the GPU, for tests on machines without one. Slow; test-sized inputs only.
#ifndef QRES_OPTIM_CUDA_EMULATOR_BACKEND_H_
#define QRES_OPTIM_CUDA_EMULATOR_BACKEND_H_

#include <memory>

#include "qres/optim/cuda/kernel_stepper.h"

namespace qres::optim {

// A KernelStepper.Backend for CPU tensors whose launches run the kernels in the emulator.
std::unique_ptr<KernelStepper::Backend> MakeEmulatedBackend();

// How many times the emulated backends uploaded a table of rows, so far (tests count uploads).
int64_t EmulatedRowUploads();

}  // namespace qres::optim

#endif  // QRES_OPTIM_CUDA_EMULATOR_BACKEND_H_
