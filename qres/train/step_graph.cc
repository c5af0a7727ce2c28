#include "qres/train/step_graph.h"

#include <map>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "c10/util/Exception.h"

namespace qres::train {
namespace {

std::map<c10::DeviceType, StepGraphFactory>& Factories() {
  static auto* factories = new std::map<c10::DeviceType, StepGraphFactory>();
  return *factories;
}

}  // namespace

absl::StatusOr<CudaGraphs> ParseCudaGraphs(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "off") return CudaGraphs::kOff;
  if (lower == "on") return CudaGraphs::kOn;
  if (lower == "auto") return CudaGraphs::kAuto;
  return absl::InvalidArgumentError(absl::StrCat("--cuda_graphs=", name, ": use off, on or auto"));
}

void RegisterStepGraph(c10::DeviceType type, StepGraphFactory factory) { Factories()[type] = factory; }

std::unique_ptr<StepGraph> MakeStepGraph(c10::Device device) {
  const auto found = Factories().find(device.type());
  return found == Factories().end() ? nullptr : found->second(device);
}

bool StepGraphRegistered(c10::DeviceType type) { return Factories().count(type) > 0; }

GraphedStep::GraphedStep(std::unique_ptr<StepGraph> graph, std::vector<at::Tensor> params, int64_t batch_size,
                         int64_t warm_steps)
    : graph_(std::move(graph)), params_(std::move(params)), batch_size_(batch_size), warm_steps_(warm_steps) {
  TORCH_CHECK(graph_ != nullptr, "GraphedStep needs a StepGraph");
}

at::Tensor GraphedStep::Run(const at::Tensor& images, const at::Tensor& labels, const Work& work) {
  if (images.size(0) != batch_size_) return work(images, labels);  // a partial batch: its own shapes
  if (warm_steps_ > 0) {
    --warm_steps_;
    at::Tensor loss;
    graph_->Warm([&] {
      loss = work(images, labels);
      return std::vector<at::Tensor>{loss};
    });
    return loss;
  }
  // The loss, then each parameter's gradient (as backward left it: undefined when it has none).
  const StepGraph::Work outputs = [&] {
    std::vector<at::Tensor> out{work(images_, labels_)};
    for (const at::Tensor& param : params_) out.push_back(param.grad());
    return out;
  };
  if (!captured_) {
    images_ = images.clone();  // the same strides (channels-last stays so)
    labels_ = labels.clone();
    std::vector<at::Tensor> captured = graph_->Capture(outputs);
    loss_ = captured.front();
    grads_.assign(captured.begin() + 1, captured.end());
    captured_ = true;
  } else {
    images_.copy_(images);
    labels_.copy_(labels);
    graph_->Replay(outputs);
    ++replays_;
  }
  for (size_t i = 0; i < params_.size(); ++i) params_[i].mutable_grad() = grads_[i];
  return loss_;
}

}  // namespace qres::train
