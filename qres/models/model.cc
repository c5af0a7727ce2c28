#include "qres/models/model.h"

#include "ATen/ops/conv2d.h"
#include "ATen/ops/empty_like.h"
#include "absl/strings/str_cat.h"
#include "qres/base/torch_status.h"

namespace qres::models {

std::string Net::Describe() const {
  const std::string variant = Variant();
  return absl::StrCat(registered_name_, variant.empty() ? "" : absl::StrCat(" (", variant, ")"), ", ",
                      CountParameters(*this), " parameters");
}

absl::StatusOr<Params> NetOptions(const ModelSpec& spec, const std::string& net) {
  return Params::Parse(spec.options, absl::StrCat("net ", net, " options (", spec.options_source, ")"));
}

int64_t CountParameters(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const at::Tensor& p : module.parameters()) count += p.numel();
  return count;
}

bool IsChannelsLast(const at::Tensor& t) { return t.dim() == 4 && t.stride(1) == 1 && t.stride(3) == t.size(1); }

at::Tensor ToChannelsLast(const at::Tensor& t) {
  if (t.dim() != 4 || IsChannelsLast(t)) return t;
  return at::empty_like(t, at::MemoryFormat::ChannelsLast).copy_(t);
}

at::Tensor Conv2d(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t stride,
                  int64_t padding) {
  return at::conv2d(x, IsChannelsLast(x) ? ToChannelsLast(weight) : weight, bias, stride, padding);
}

absl::StatusOr<std::shared_ptr<Net>> CreateModel(const std::string& name, const ModelSpec& spec) {
  if (spec.channels <= 0 || spec.height <= 0 || spec.width <= 0 || spec.classes <= 1) {
    return absl::InvalidArgumentError(absl::StrCat("net ", name, ": bad input shape ", spec.channels, "x", spec.height,
                                                   "x", spec.width, " or class count ", spec.classes));
  }
  auto created = CallTorch(absl::StrCat("building net ", name), [&] { return ModelRegistry::Create(name, spec); });
  if (!created.ok()) return created.status();
  std::shared_ptr<Net> net(std::move(*created));
  auto entry = ModelRegistry::Find(name);
  net->set_registered_name(entry.ok() ? (*entry)->name : name);
  return net;
}

}  // namespace qres::models
