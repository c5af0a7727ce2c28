// models::Conv2dRelu (model.h).
#include <optional>
#include <vector>

#include "ATen/autocast_mode.h"
#include "ATen/core/dispatch/Dispatcher.h"
#include "ATen/ops/convolution_backward.h"
#include "ATen/ops/threshold_backward.h"
#include "qres/models/model.h"
#include "torch/csrc/autograd/custom_function.h"

namespace qres::models {
namespace {

// oneDNN's convolution + bias + ReLU forward; the backward is ATen's, as the unfused ops' autograd
// runs it: ReLU's mask from the output (threshold_backward), then convolution_backward.
class ConvReluFunction : public torch::autograd::Function<ConvReluFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t stride, int64_t padding) {
    static const c10::OperatorHandle op =
        c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_convolution_pointwise", "");
    // mkldnn::_convolution_pointwise(X, W, B?, padding[], stride[], dilation[], groups, attr,
    // scalars?[], algorithm?)
    std::vector<c10::IValue> stack = {x,
                                      weight,
                                      bias.defined() ? c10::IValue(bias) : c10::IValue(),
                                      std::vector<int64_t>{padding, padding},
                                      std::vector<int64_t>{stride, stride},
                                      std::vector<int64_t>{1, 1},
                                      int64_t{1},
                                      std::string("relu"),
                                      c10::List<std::optional<at::Scalar>>(),
                                      c10::IValue()};
    op.callBoxed(&stack);
    at::Tensor out = std::move(stack[0]).toTensor();
    ctx->save_for_backward({x, weight, out});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["bias"] = bias.defined();
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &out = saved[2];
    const int64_t stride = ctx->saved_data["stride"].toInt(), padding = ctx->saved_data["padding"].toInt();
    const bool has_bias = ctx->saved_data["bias"].toBool();
    const at::Tensor grad = at::threshold_backward(grads[0], out, 0);
    const std::vector<int64_t> bias_sizes = {weight.size(0)};
    auto [grad_x, grad_weight, grad_bias] =
        at::convolution_backward(grad, x, weight, has_bias ? at::OptionalIntArrayRef(bias_sizes) : c10::nullopt,
                                 {stride, stride}, {padding, padding}, {1, 1}, /*transposed=*/false, {0, 0},
                                 /*groups=*/1, {x.requires_grad(), weight.requires_grad(), has_bias});
    return {grad_x, grad_weight, grad_bias, at::Tensor(), at::Tensor()};
  }
};

// Elsewhere oneDNN's fused op refuses bf16, and ATen's convolution falls back.
bool OneDnnHasBf16() {
  static const bool supported = [] {
    std::vector<c10::IValue> stack;
    c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn::_is_mkldnn_bf16_supported", "").callBoxed(&stack);
    return stack[0].toBool();
  }();
  return supported;
}

}  // namespace

bool Conv2dReluFuses(const at::Tensor& x) {
  return x.device().is_cpu() && at::autocast::is_autocast_enabled(at::kCPU) &&
         at::autocast::get_autocast_dtype(at::kCPU) == at::kBFloat16 && at::globalContext().userEnabledMkldnn() &&
         OneDnnHasBf16();
}

at::Tensor Conv2dRelu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                      int64_t padding) {
  if (!Conv2dReluFuses(x)) return Conv2d(x, weight, bias, stride, padding).relu_();
  // The casts autocast would make for the convolution (cached_cast: one bf16 copy of a weight per
  // autocast region), outside the function, so autograd takes their gradients back to fp32 as it
  // does for the unfused ops.
  const auto bf16 = [](const at::Tensor& t) { return at::autocast::cached_cast(at::kBFloat16, t, at::kCPU); };
  const at::Tensor layout_weight = IsChannelsLast(x) ? ToChannelsLast(weight) : weight;
  return ConvReluFunction::apply(bf16(x), bf16(layout_weight), bias.defined() ? bf16(bias) : bias, stride, padding);
}

}  // namespace qres::models
