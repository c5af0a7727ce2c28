// CNN (algorithm.md §4): conv 3x3 (C→32) → ReLU → pool 2 → conv 3x3 (32→64) → ReLU → pool 2 →
// linear. 50,186 parameters for 1x28x28 and 10 classes. Linear weight Xavier-uniform, the rest
// PyTorch's default initialisation, as the reference.
#include <memory>

#include "ATen/ops/max_pool2d.h"
#include "qres/base/status_macros.h"
#include "qres/models/model.h"
#include "torch/nn/init.h"
#include "torch/nn/modules/conv.h"
#include "torch/nn/modules/linear.h"

namespace qres::models {
namespace {

class Cnn : public Net {
 public:
  explicit Cnn(const ModelSpec& spec)
      : conv1_(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(spec.channels, 32, 3).padding(1)))),
        conv2_(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(32, 64, 3).padding(1)))),
        fc_(register_module("fc", torch::nn::Linear(64 * (spec.height / 4) * (spec.width / 4), spec.classes))) {
    torch::nn::init::xavier_uniform_(fc_->weight);
  }

  at::Tensor forward(at::Tensor x) override {  // channels-last images convolve channels-last
    x = at::max_pool2d(Conv2dRelu(x, conv1_->weight, conv1_->bias, 1, 1), 2);
    x = at::max_pool2d(Conv2dRelu(x, conv2_->weight, conv2_->bias, 1, 1), 2);
    return fc_->forward(x.flatten(1));
  }

 private:
  torch::nn::Conv2d conv1_;
  torch::nn::Conv2d conv2_;
  torch::nn::Linear fc_;
};

absl::StatusOr<std::unique_ptr<Net>> MakeCnn(const ModelSpec& spec) {
  QRES_ASSIGN_OR_RETURN(Params options, NetOptions(spec, "CNN"));
  QRES_RETURN_IF_ERROR(options.CheckAllUsed());  // it has none
  if (spec.height < 4 || spec.width < 4) {
    return absl::InvalidArgumentError("net CNN needs images of at least 4x4 pixels");
  }
  return std::make_unique<Cnn>(spec);
}

QRES_REGISTER_MODEL("CNN", "2 conv + 1 linear, the reference's MNIST net (50,186 params on 28x28)", &MakeCnn);

}  // namespace
}  // namespace qres::models
