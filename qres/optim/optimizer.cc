#include "qres/optim/optimizer.h"

namespace qres::optim {

const Quantizer* QuantizerOf(const torch::optim::Optimizer& optimizer) {
  const auto* quantized = dynamic_cast<const QuantizedOptimizer*>(&optimizer);
  if (quantized == nullptr || quantized->quantizer().options().schedule == QuantSchedule::kNone) {
    return nullptr;
  }
  return &quantized->quantizer();
}

}  // namespace qres::optim
