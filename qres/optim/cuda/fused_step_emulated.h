// The fused step's kernels run on the CPU by the SIMT emulator (simt_emulator.h): the same
// kernel code as on the GPU, for tests on machines without one. Slow; test-sized inputs only.
#ifndef QRES_OPTIM_CUDA_FUSED_STEP_EMULATED_H_
#define QRES_OPTIM_CUDA_FUSED_STEP_EMULATED_H_

#include <memory>

#include "qres/optim/cuda/fused_stepper.h"

namespace qres::optim {

// A FusedStepper.Backend for CPU tensors whose launches run the kernels in the emulator.
std::unique_ptr<FusedStepper::Backend> MakeEmulatedBackend();

}  // namespace qres::optim

#endif  // QRES_OPTIM_CUDA_FUSED_STEP_EMULATED_H_
