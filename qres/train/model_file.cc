#include "qres/train/model_file.h"

#include <vector>

#include "ATen/core/Dict.h"
#include "ATen/core/ivalue.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "c10/core/GradMode.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/io/archive_check.h"
#include "qres/io/files.h"
#include "torch/serialize.h"

namespace qres::train {
namespace {

std::vector<std::pair<std::string, at::Tensor>> StateDict(const models::Net& net) {
  std::vector<std::pair<std::string, at::Tensor>> entries;
  for (const auto& item : net.named_parameters()) entries.emplace_back(item.key(), item.value());
  for (const auto& item : net.named_buffers()) entries.emplace_back(item.key(), item.value());
  return entries;
}

std::string Shape(const at::Tensor& t) { return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]"); }

}  // namespace

absl::Status SaveModelFile(const std::string& path, const models::Net& net) {
  QRES_ASSIGN_OR_RETURN(std::vector<char> bytes, CallTorch("serialising the model", [&] {
    c10::Dict<std::string, at::Tensor> dict;
    for (const auto& [name, tensor] : StateDict(net)) dict.insert(name, tensor.detach().cpu());
    return torch::pickle_save(c10::IValue(dict));
  }));
  return io::WriteFileAtomically(path, std::string(bytes.begin(), bytes.end()));
}

absl::Status LoadModelFile(const std::string& path, models::Net& net) {
  QRES_ASSIGN_OR_RETURN(std::string bytes, io::ReadWholeFile(path));
  QRES_RETURN_IF_ERROR(io::CheckArchive(bytes, absl::StrCat(path, ": not a model file or a damaged one")));
  QRES_ASSIGN_OR_RETURN(c10::IValue value, CallTorch(absl::StrCat(path, ": not a model file"), [&] {
    return torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  }));
  if (!value.isGenericDict()) {
    return absl::DataLossError(absl::StrCat(path, ": not a state_dict (a dict of tensors)"));
  }
  const c10::impl::GenericDict dict = value.toGenericDict();
  const auto entries = StateDict(net);
  at::NoGradGuard no_grad;
  for (const auto& [name, tensor] : entries) {
    auto it = dict.find(c10::IValue(name));
    if (it == dict.end() || !it->value().isTensor()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": has no tensor '", name, "' for net ",
                                                     net.registered_name(), "; was it trained with another --net, ",
                                                     "--dataset or --net_params (-rl)?"));
    }
    const at::Tensor stored = it->value().toTensor();
    if (!stored.sizes().equals(tensor.sizes())) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": '", name, "' is ", Shape(stored), " but net ", net.registered_name(), " has ",
          Shape(tensor), "; was it trained with another --net, --dataset or --net_params (-rl)?"));
    }
  }
  if (dict.size() != entries.size()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": holds ", dict.size(), " tensors but net ",
                                                   net.registered_name(), " has ", entries.size(),
                                                   "; was it trained with another --net or --net_params (-rl)?"));
  }
  for (const auto& [name, tensor] : entries) tensor.copy_(dict.at(c10::IValue(name)).toTensor());
  return absl::OkStatus();
}

}  // namespace qres::train
