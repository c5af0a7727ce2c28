#include "qres/train/model_file.h"

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ATen/core/Dict.h"
#include "ATen/core/ivalue.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "c10/core/GradMode.h"
#include "caffe2/serialize/inline_container.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/io/archive_check.h"
#include "qres/io/files.h"
#include "qres/io/settings_text.h"
#include "torch/csrc/jit/serialization/export.h"
#include "torch/csrc/jit/serialization/pickler.h"
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

// The record beside the pickle that says what the net was trained on; torch.load reads only the
// pickle and the tensors it names, so Python still gets the plain state_dict.
constexpr char kTrainedOn[] = "qres_trained_on.txt";

}  // namespace

absl::Status SaveModelFile(const std::string& path, const models::Net& net, const io::SettingsMap& trained_on) {
  QRES_ASSIGN_OR_RETURN(std::string bytes, CallTorch("serialising the model", [&] {
                          c10::Dict<std::string, at::Tensor> dict;
                          for (const auto& [name, tensor] : StateDict(net)) dict.insert(name, tensor.detach().cpu());
                          // What torch::pickle_save writes, plus the record.
                          std::vector<char> pickle;
                          // Untagged: a plain dict, which torch.load(weights_only=True) accepts (a typed dict's type
                          // tag, torch.jit._pickle.restore_type_tag, is not among its allowed globals).
                          torch::jit::Pickler pickler(
                              [&](const char* data, size_t size) { pickle.insert(pickle.end(), data, data + size); },
                              nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
                          pickler.protocol();
                          pickler.pushIValue(c10::IValue(dict));
                          pickler.stop();
                          std::string out;
                          caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
                            out.append(static_cast<const char*>(data), size);
                            return size;
                          });
                          torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(),
                                                             writer);
                          const std::string text = io::SettingsText(trained_on);
                          writer.writeRecord(kTrainedOn, text.data(), text.size());
                          writer.writeEndOfFile();
                          return out;
                        }));
  return io::WriteFileAtomically(path, bytes);
}

absl::StatusOr<io::SettingsMap> ReadTrainedOn(const std::string& path) {
  QRES_ASSIGN_OR_RETURN(std::string bytes, io::ReadWholeFile(path));
  QRES_RETURN_IF_ERROR(io::CheckArchive(bytes, absl::StrCat(path, ": not a model file or a damaged one")));
  QRES_ASSIGN_OR_RETURN(const std::string text, CallTorch(absl::StrCat(path, ": not a model file"), [&] {
                          std::istringstream stream(bytes);
                          caffe2::serialize::PyTorchStreamReader reader(&stream);
                          if (!reader.hasRecord(kTrainedOn)) return std::string();
                          auto [data, size] = reader.getRecord(kTrainedOn);
                          return std::string(static_cast<const char*>(data.get()), size);
                        }));
  return io::ParseSettingsText(text);
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
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": '", name, "' is ", Shape(stored), " but net ", net.registered_name(), " has ",
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
