// The model interface and registry: networks built for a dataset's input shape and class count.
//
//   ModelSpec spec{.channels = 1, .height = 28, .width = 28, .classes = 10, .options = "layers=3"};
//   QRES_ASSIGN_OR_RETURN(std::shared_ptr<Net> net, CreateModel("ResNet", spec));  // ResNet-20
//   at::Tensor logits = net->forward(images);   // [N, classes]
//
// Registered names (the seed's): CNN (//qres/models:cnn), LeNet (:lenet), ResNet (:resnet).
#ifndef QRES_MODELS_MODEL_H_
#define QRES_MODELS_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "qres/base/params.h"
#include "qres/base/registry.h"
#include "torch/nn/module.h"

namespace qres::models {

struct ModelSpec {
  int64_t channels = 1;
  int64_t height = 28;
  int64_t width = 28;
  int64_t classes = 10;
  // The net's own options, "key=value,...": each net reads and checks its keys (ResNet: layers;
  // LeNet: logit_relu), and a key it does not read is an error.
  std::string options;
  std::string options_source = "--net_params";  // where the options came from, for errors
};

// A network: a torch::nn::Module with a forward pass from images [N, C, H, W] to scores
// [N, classes] (logits, or log-probabilities for LeNet as the reference).
class Net : public torch::nn::Module {
 public:
  virtual at::Tensor forward(at::Tensor images) = 0;
  // One line: the registered name, the variant its options chose, the parameter count.
  std::string Describe() const;
  // What the options chose, e.g. "ResNet-32"; empty for a net without options.
  virtual std::string Variant() const { return ""; }
  // The name it was created under (set by CreateModel).
  const std::string& registered_name() const { return registered_name_; }
  void set_registered_name(std::string name) { registered_name_ = std::move(name); }

 private:
  std::string registered_name_;
};

using ModelRegistry = Registry<Net, const ModelSpec&>;

// ModelRegistry::Create, as a shared_ptr (modules are shared) with shape checks on `spec`.
absl::StatusOr<std::shared_ptr<Net>> CreateModel(const std::string& name, const ModelSpec& spec);

int64_t CountParameters(const torch::nn::Module& module);

// `t` (4-d) in channels-last memory with real NHWC strides, even where its shape makes NCHW strides
// valid for both layouts (one channel, as MNIST's images and conv1's weight): contiguous(ChannelsLast)
// returns such a tensor unchanged, oneDNN then sees NCHW and channels-last's gain vanishes.
at::Tensor ToChannelsLast(const at::Tensor& t);

// Whether 4-d `t` has NHWC strides (what ToChannelsLast makes): a net given such images runs its
// convolutions channels-last.
bool IsChannelsLast(const at::Tensor& t);

// A 2-d convolution as torch::nn::Conv2d computes it (zero padding); on channels-last `x` with a
// channels-last copy of `weight`, or oneDNN reorders on every call (the parameter and its
// gradient stay NCHW, as the optimizers and the model file have them).
at::Tensor Conv2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                  int64_t padding);

// relu(Conv2d(x, weight, bias, stride, padding)). Under bf16 autocast on the CPU it is one oneDNN
// convolution with the ReLU as a post-op (mkldnn::_convolution_pointwise, as torch.compile's CPU
// backend fuses it): no second pass over the output. The same values as the two ops: the post-op
// clamps the fp32 accumulator before it is rounded to bf16, and rounding keeps the sign (a zero's
// sign may differ).
// Elsewhere (fp32, CUDA) it is the two ops.
at::Tensor Conv2dRelu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                      int64_t padding);
// Whether Conv2dRelu fuses for `x` now: a CPU tensor under bf16 autocast, where oneDNN computes
// bf16 (ATen's own test: AVX512-BW/VL/DQ or AVX-NE-CONVERT, as ONEDNN_MAX_CPU_ISA allows).
bool Conv2dReluFuses(const at::Tensor& x);

// spec.options parsed for net `net`; errors name the net and spec.options_source. A factory reads
// its keys from it, then calls CheckAllUsed().
absl::StatusOr<Params> NetOptions(const ModelSpec& spec, const std::string& net);

}  // namespace qres::models

namespace qres {
template <>
struct RegistryKind<models::Net> {
  static constexpr const char* kName = "net";
};
}  // namespace qres

// Registers a model factory: absl::StatusOr<std::unique_ptr<Net>> Make(const ModelSpec&).
#define QRES_REGISTER_MODEL(name, help, factory) \
  QRES_REGISTER_COMPONENT(::qres::models::ModelRegistry, name, help, factory)

#endif  // QRES_MODELS_MODEL_H_
