#include "qres/models/model.h"

#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ATen/ops/equal.h"
#include "ATen/ops/mean.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/std.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/train/precision.h"
#include "torch/csrc/autograd/function.h"

namespace qres::models {
namespace {

using ::testing::HasSubstr;

// ResNet's spec with `layers` blocks per stage; without, any net's.
ModelSpec Spec(int64_t c, int64_t hw, int64_t classes, std::optional<int64_t> layers = std::nullopt) {
  ModelSpec spec;
  spec.channels = c;
  spec.height = spec.width = hw;
  spec.classes = classes;
  if (layers.has_value()) spec.options = "layers=" + std::to_string(*layers);
  return spec;
}

// The smallest spec of net `name`: ResNet with one block per stage, the others as they are.
ModelSpec Small(const std::string& name, int64_t c, int64_t hw, int64_t classes) {
  return Spec(c, hw, classes, name == "ResNet" ? std::optional<int64_t>(1) : std::nullopt);
}

int64_t Count(const std::string& name, const ModelSpec& spec) {
  auto net = CreateModel(name, spec);
  EXPECT_TRUE(net.ok()) << net.status();
  return net.ok() ? CountParameters(**net) : -1;
}

TEST(ModelTest, ParameterCountsMatchTheReference) {
  EXPECT_EQ(Count("CNN", Spec(1, 28, 10)), 50186);
  EXPECT_EQ(Count("LeNet", Spec(3, 32, 10)), 62006);
  EXPECT_EQ(Count("LeNet", Spec(3, 32, 100)), 69656);
  EXPECT_EQ(Count("ResNet", Spec(3, 32, 10, 3)), 269722);
  EXPECT_EQ(Count("ResNet", Spec(3, 32, 10, 5)), 464154);
  EXPECT_EQ(Count("ResNet", Spec(3, 32, 100, 5)), 470004);
  EXPECT_EQ(Count("ResNet", Spec(3, 32, 10, 7)), 658586);
  EXPECT_EQ(Count("ResNet", Spec(3, 32, 10, 8)), 755802);
  EXPECT_EQ(Count("ResNet", Spec(3, 32, 10, 9)), 853018);
}

TEST(ModelTest, EveryNetHasTheRightOutputShapeForEveryDatasetShape) {
  for (const std::string& name : ModelRegistry::Names()) {
    for (const ModelSpec& spec : {Small(name, 1, 28, 10), Small(name, 3, 32, 10), Small(name, 3, 32, 100)}) {
      auto net = CreateModel(name, spec);
      ASSERT_TRUE(net.ok()) << net.status();
      at::Tensor out = (*net)->forward(at::randn({2, spec.channels, spec.height, spec.width}));
      EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, spec.classes}))
          << name << " on " << spec.channels << "x" << spec.height;
    }
  }
}

TEST(ModelTest, ForwardAndBackwardGiveGradientsEverywhere) {
  for (const std::string& name : ModelRegistry::Names()) {
    for (const auto& [channels, size] : {std::pair<int64_t, int64_t>{1, 28}, {3, 32}}) {
      auto net = CreateModel(name, Small(name, channels, size, 10));
      ASSERT_TRUE(net.ok()) << net.status();
      (*net)->forward(at::randn({4, channels, size, size})).sum().backward();
      for (const auto& p : (*net)->named_parameters()) {
        ASSERT_TRUE(p.value().grad().defined()) << name << "." << p.key();
        // Whatever layout the activations take (ResNet: channels-last on the CPU), parameters and
        // gradients stay contiguous, which the fused optimizer loops need.
        EXPECT_TRUE(p.value().is_contiguous() && p.value().grad().is_contiguous()) << name << "." << p.key();
      }
    }
  }
}

TEST(ModelTest, InitialisationMatchesTheReferenceDistributions) {
  at::manual_seed(0);
  auto resnet = CreateModel("ResNet", Spec(3, 32, 10, 5));
  ASSERT_TRUE(resnet.ok());
  auto params = (*resnet)->named_parameters();
  // Kaiming normal, fan_out, ReLU: std = sqrt(2 / (out_channels · 9)).
  const at::Tensor conv = params["layer3_0.conv2.weight"];
  EXPECT_NEAR(conv.std().item<double>(), std::sqrt(2.0 / (64 * 9)), 0.01);
  EXPECT_NEAR(conv.mean().item<double>(), 0.0, 0.005);
  EXPECT_EQ(params["layer1_0.bn1.weight"].mean().item<double>(), 1.0);
  EXPECT_EQ(params["layer1_0.bn1.bias"].abs().sum().item<double>(), 0.0);

  auto lenet = CreateModel("LeNet", Spec(3, 32, 10));
  ASSERT_TRUE(lenet.ok());
  auto lp = (*lenet)->named_parameters();
  // Xavier uniform: U(±sqrt(6 / (fan_in + fan_out))), std = bound / sqrt(3).
  const double bound = std::sqrt(6.0 / (400 + 120));
  EXPECT_LE(lp["fc1.weight"].abs().max().item<double>(), bound);
  EXPECT_NEAR(lp["fc1.weight"].std().item<double>(), bound / std::sqrt(3.0), 0.005);
  EXPECT_EQ(lp["fc1.bias"].min().item<float>(), 0.01f);
  EXPECT_EQ(lp["fc3.bias"].max().item<float>(), 0.01f);
}

TEST(ModelTest, BadShapesAndNamesAreReported) {
  EXPECT_THAT(CreateModel("LeNet", Spec(3, 64, 10)).status().message(), HasSubstr("28x28 or 32x32"));
  EXPECT_THAT(CreateModel("ResNet", Spec(3, 32, 10, 0)).status().message(),
              HasSubstr("net ResNet: layers=0 must be in [1, 200]"));
  ModelSpec options = Spec(1, 28, 10);
  options.options = "layers=3";
  options.options_source = "--net_params, -rl";
  EXPECT_THAT(CreateModel("CNN", options).status().message(),
              HasSubstr("net CNN options (--net_params, -rl): unknown key 'layers'; it takes none"));
  options.options = "logit_relu=true,depth=2";
  EXPECT_THAT(CreateModel("LeNet", options).status().message(),
              HasSubstr("net LeNet options (--net_params, -rl): unknown key 'depth'; valid keys: logit_relu"));
  options.options = "layers=3";
  auto resnet20 = CreateModel("ResNet", options);
  ASSERT_TRUE(resnet20.ok());
  EXPECT_THAT((*resnet20)->Describe(), HasSubstr("ResNet (ResNet-20), "));
  EXPECT_THAT(CreateModel("VGG", Spec(3, 32, 10)).status().message(),
              HasSubstr("unknown net 'VGG'; registered: CNN, LeNet, ResNet"));
}

// The fused convolution + ReLU against the two ops it replaces, forward and every gradient, for
// NCHW and channels-last inputs, one and several input channels, with and without padding.
// Compared by value (at::equal): oneDNN's ReLU post-op may write +0 where ReLU writes -0.
TEST(ModelTest, FusedConvReluEqualsConvThenRelu) {
  for (const bool channels_last : {false, true}) {
    for (const int64_t in : {1, 6}) {
      for (const int64_t padding : {0, 1}) {
        SCOPED_TRACE(testing::Message() << "channels_last " << channels_last << ", in " << in << ", padding "
                                        << padding);
        at::manual_seed(in + padding);
        at::Tensor x = at::randn({4, in, 12, 12});
        if (channels_last) x = ToChannelsLast(x);
        const at::Tensor weight = at::randn({8, in, 3, 3}), bias = at::randn({8});
        std::vector<at::Tensor> grads[2];
        at::Tensor outs[2];
        for (const bool fused : {false, true}) {
          const at::Tensor xg = x.detach().requires_grad_(), wg = weight.detach().requires_grad_(),
                           bg = bias.detach().requires_grad_();
          {
            const train::AutocastScope autocast(train::Precision::kBf16, c10::kCPU);
            outs[fused] = fused ? Conv2dRelu(xg, wg, bg, 1, padding) : Conv2d(xg, wg, bg, 1, padding).relu_();
            if (fused && Conv2dReluFuses(xg)) {  // the fused op ran
              EXPECT_THAT(outs[fused].grad_fn()->name(), HasSubstr("ConvReluFunction"));
            }
          }
          outs[fused].to(at::kFloat).square().sum().backward();
          grads[fused] = {xg.grad(), wg.grad(), bg.grad()};
        }
        EXPECT_EQ(outs[1].scalar_type(), at::kBFloat16);
        EXPECT_TRUE(at::equal(outs[0], outs[1]));
        for (size_t i = 0; i < 3; ++i) {
          EXPECT_EQ(grads[1][i].scalar_type(), at::kFloat) << "gradient " << i;
          EXPECT_TRUE(at::equal(grads[0][i], grads[1][i])) << "gradient " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace qres::models
