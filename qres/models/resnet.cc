// CIFAR ResNet of depth 6n + 2 (He et al.; algorithm.md §4) with the reference's option-A
// shortcuts: on downsampling blocks the input is zero-padded in channels and subsampled
// (MaxPool2d(1, stride 2)), with no 1x1 convolution. n = resnet_layers (the seed's -rl):
// 5 gives ResNet-32 with 464,154 parameters at 10 classes.
//
// Convs are Kaiming-normal (fan_out, ReLU), batch norm γ = 1, β = 0, the linear PyTorch's default.
// The head pools globally, which is the reference's AvgPool2d(8) on 32x32 inputs and lets the net
// also run on 28x28 images.
#include <memory>
#include <string>

#include "ATen/ops/adaptive_avg_pool2d.h"
#include "ATen/ops/constant_pad_nd.h"
#include "ATen/ops/relu.h"
#include "absl/strings/str_cat.h"
#include "c10/core/GradMode.h"
#include "qres/base/status_macros.h"
#include "qres/models/model.h"
#include "torch/nn/init.h"
#include "torch/nn/modules/batchnorm.h"
#include "torch/nn/modules/container/sequential.h"
#include "torch/nn/modules/conv.h"
#include "torch/nn/modules/linear.h"

namespace qres::models {
namespace {

torch::nn::Conv2d Conv3x3(int64_t in, int64_t out, int64_t stride) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

class BasicBlock : public torch::nn::Module {
 public:
  BasicBlock(int64_t in, int64_t out, int64_t stride)
      : extra_channels_(out - in),
        stride_(stride),
        conv1_(register_module("conv1", Conv3x3(in, out, stride))),
        bn1_(register_module("bn1", torch::nn::BatchNorm2d(out))),
        conv2_(register_module("conv2", Conv3x3(out, out, 1))),
        bn2_(register_module("bn2", torch::nn::BatchNorm2d(out))) {}

  at::Tensor forward(const at::Tensor& x) {
    at::Tensor out = bn1_->forward(Conv2d(x, conv1_->weight, {}, stride_, 1)).relu_();
    out = bn2_->forward(Conv2d(out, conv2_->weight, {}, 1, 1));
    // Option A: subsampled, then zero channels appended (the order moves 4x less data; the values
    // are the same).
    at::Tensor shortcut = x;
    if (stride_ > 1) shortcut = shortcut.slice(2, 0, c10::nullopt, stride_).slice(3, 0, c10::nullopt, stride_);
    if (extra_channels_ > 0) shortcut = at::constant_pad_nd(shortcut, {0, 0, 0, 0, 0, extra_channels_}, 0.0);
    // In place: no backward needs bn2's output or the values relu overwrites.
    return out.add_(shortcut).relu_();
  }

 private:
  int64_t extra_channels_;
  int64_t stride_;
  torch::nn::Conv2d conv1_;
  torch::nn::BatchNorm2d bn1_;
  torch::nn::Conv2d conv2_;
  torch::nn::BatchNorm2d bn2_;
};

class ResNet : public Net {
 public:
  ResNet(const ModelSpec& spec, int64_t layers)
      : layers_(layers),
        conv_(register_module("conv", Conv3x3(spec.channels, 16, 1))),
        bn_(register_module("bn", torch::nn::BatchNorm2d(16))),
        fc_(register_module("fc", torch::nn::Linear(64, spec.classes))) {
    int64_t in = 16;
    const int64_t widths[] = {16, 32, 64};
    for (int stage = 0; stage < 3; ++stage) {
      for (int64_t b = 0; b < layers; ++b) {
        const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        blocks_.push_back(register_module(absl::StrCat("layer", stage + 1, "_", b),
                                          std::make_shared<BasicBlock>(in, widths[stage], stride)));
        in = widths[stage];
      }
    }
    at::NoGradGuard no_grad;
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* conv = module->as<torch::nn::Conv2d>()) {
        torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = module->as<torch::nn::BatchNorm2d>()) {
        bn->weight.fill_(1.0);
        bn->bias.zero_();
      }
    }
  }

  std::string Variant() const override { return absl::StrCat("ResNet-", 6 * layers_ + 2); }

  at::Tensor forward(at::Tensor x) override {
    // On the CPU the activations run channels-last (NHWC): oneDNN's convolutions and batch norm
    // are faster that way (about 1.2x per training step: docs/BENCHMARKS.md). The weights stay
    // NCHW, and so do their gradients and the saved model. A 1-channel input is the same bytes
    // in both layouts, so the stem's output is converted too.
    const bool nhwc = x.is_cpu();
    if (nhwc) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    x = bn_->forward(Conv2d(x, conv_->weight, {}, 1, 1)).relu_();
    if (nhwc) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    for (auto& block : blocks_) x = block->forward(x);
    x = at::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc_->forward(x);
  }

 private:
  int64_t layers_;  // n: blocks per stage
  torch::nn::Conv2d conv_;
  torch::nn::BatchNorm2d bn_;
  std::vector<std::shared_ptr<BasicBlock>> blocks_;
  torch::nn::Linear fc_;
};

absl::StatusOr<std::unique_ptr<Net>> MakeResNet(const ModelSpec& spec) {
  QRES_ASSIGN_OR_RETURN(Params options, NetOptions(spec, "ResNet"));
  QRES_ASSIGN_OR_RETURN(const int64_t layers, options.GetInt("layers", 5));
  QRES_RETURN_IF_ERROR(options.CheckAllUsed());
  if (layers < 1 || layers > 200) {
    return absl::InvalidArgumentError(
        absl::StrCat("net ResNet: layers=", layers, " must be in [1, 200] (depth 6n + 2)"));
  }
  if (spec.height < 8 || spec.width < 8) {
    return absl::InvalidArgumentError("net ResNet needs images of at least 8x8 pixels");
  }
  return std::make_unique<ResNet>(spec, layers);
}

QRES_REGISTER_MODEL("ResNet",
                    "CIFAR ResNet-(6n+2), option-A shortcuts; --net_params=layers=n (-rl n; 5: "
                    "ResNet-32, 464,154 params)",
                    &MakeResNet);

}  // namespace
}  // namespace qres::models
