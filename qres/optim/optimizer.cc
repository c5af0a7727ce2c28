#include "qres/optim/optimizer.h"

namespace qres::optim {

const Quantizer* QuantizerOf(const torch::optim::Optimizer& optimizer) {
  const auto* quantized = dynamic_cast<const QuantizedOptimizer*>(&optimizer);
  if (quantized == nullptr || quantized->quantizer().options().schedule == QuantSchedule::kNone) {
    return nullptr;
  }
  return &quantized->quantizer();
}

bool IsFusableCpuFloat(const at::Tensor& param) {
  auto dense = [](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous() &&
           !t.is_sparse();
  };
  const at::Tensor& grad = param.grad();
  return dense(param) && (!grad.defined() || (dense(grad) && grad.sizes() == param.sizes()));
}

}  // namespace qres::optim
