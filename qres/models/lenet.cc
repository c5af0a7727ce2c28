// LeNet-5 (algorithm.md §4): conv 5x5 (C→6) → ReLU → pool → conv 5x5 (6→16) → ReLU → pool →
// 400 → 120 → 84 → classes, then LogSoftmax. 62,006 parameters for 3x32x32 and 10 classes.
// Linear weights Xavier-uniform, linear biases 0.01, as the reference.
//
// 28x28 inputs (MNIST, Fashion-MNIST) are zero-padded to 32x32, as LeNet-5's original paper did,
// so the same architecture and parameter count apply. The reference's ReLU on the logits is the
// option `logit_relu` (--net_params=logit_relu=true, or --logit_relu; off by default).
#include <memory>

#include "ATen/ops/constant_pad_nd.h"
#include "ATen/ops/log_softmax.h"
#include "ATen/ops/max_pool2d.h"
#include "ATen/ops/relu.h"
#include "absl/strings/str_cat.h"
#include "c10/core/GradMode.h"
#include "qres/base/status_macros.h"
#include "qres/models/model.h"
#include "torch/nn/init.h"
#include "torch/nn/modules/conv.h"
#include "torch/nn/modules/linear.h"

namespace qres::models {
namespace {

class LeNet : public Net {
 public:
  LeNet(const ModelSpec& spec, bool logit_relu)
      : pad_(spec.height == 28 ? 2 : 0),
        logit_relu_(logit_relu),
        conv1_(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(spec.channels, 6, 5)))),
        conv2_(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 16, 5)))),
        fc1_(register_module("fc1", torch::nn::Linear(16 * 5 * 5, 120))),
        fc2_(register_module("fc2", torch::nn::Linear(120, 84))),
        fc3_(register_module("fc3", torch::nn::Linear(84, spec.classes))) {
    at::NoGradGuard no_grad;
    for (torch::nn::Linear* fc : {&fc1_, &fc2_, &fc3_}) {
      torch::nn::init::xavier_uniform_((*fc)->weight);
      (*fc)->bias.fill_(0.01);
    }
  }

  at::Tensor forward(at::Tensor x) override {
    if (pad_ > 0) x = at::constant_pad_nd(x, {pad_, pad_, pad_, pad_}, 0.0);
    x = at::max_pool2d(Conv2dRelu(x, conv1_->weight, conv1_->bias, 1, 0), 2);
    x = at::max_pool2d(Conv2dRelu(x, conv2_->weight, conv2_->bias, 1, 0), 2);
    x = fc1_->forward(x.flatten(1)).relu_();
    x = fc2_->forward(x).relu_();
    x = fc3_->forward(x);
    if (logit_relu_) x = x.relu_();
    return at::log_softmax(x, 1);
  }

 private:
  int64_t pad_;
  bool logit_relu_;
  torch::nn::Conv2d conv1_, conv2_;
  torch::nn::Linear fc1_, fc2_, fc3_;
};

absl::StatusOr<std::unique_ptr<Net>> MakeLeNet(const ModelSpec& spec) {
  QRES_ASSIGN_OR_RETURN(Params options, NetOptions(spec, "LeNet"));
  QRES_ASSIGN_OR_RETURN(const bool logit_relu, options.GetBool("logit_relu", false));
  QRES_RETURN_IF_ERROR(options.CheckAllUsed());
  const bool square28 = spec.height == 28 && spec.width == 28;
  const bool square32 = spec.height == 32 && spec.width == 32;
  if (!square28 && !square32) {
    return absl::InvalidArgumentError(
        absl::StrCat("net LeNet takes 28x28 or 32x32 images, not ", spec.height, "x", spec.width));
  }
  return std::make_unique<LeNet>(spec, logit_relu);
}

QRES_REGISTER_MODEL("LeNet",
                    "LeNet-5 (62,006 params on 3x32x32); 28x28 inputs are zero-padded to 32x32; "
                    "--net_params=logit_relu=true (--logit_relu): the reference's ReLU on the logits",
                    &MakeLeNet);

}  // namespace
}  // namespace qres::models
