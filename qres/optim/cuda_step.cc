#include "qres/optim/cuda_step.h"

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

CudaStepTensor& CudaStepRunner::Add(const at::Tensor& param, const at::Tensor& grad) {
  device_ = param.device();
  CudaStepTensor& tensor = tensors_.emplace_back();
  tensor.param = FloatData(param);
  tensor.grad = FloatData(grad);
  tensor.numel = param.numel();
  return tensor;
}

void CudaStepRunner::Run(CudaRule rule, Quantizer* quantizer) {
  if (tensors_.empty()) return;
  if (!stepper_) stepper_ = MakeCudaStepper();
  stepper_->Step(rule, device_, tensors_, quantizer);
}

}  // namespace qres::optim
