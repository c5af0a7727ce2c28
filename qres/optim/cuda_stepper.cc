#include "qres/optim/cuda_stepper.h"

namespace qres::optim {
namespace {

CudaStepperFactory& Factory() {
  static CudaStepperFactory factory = nullptr;
  return factory;
}

}  // namespace

void RegisterCudaStepper(CudaStepperFactory factory) { Factory() = factory; }

std::unique_ptr<CudaStepper> MakeCudaStepper() { return Factory() != nullptr ? Factory()() : nullptr; }

bool CudaStepperRegistered() { return Factory() != nullptr; }

}  // namespace qres::optim
