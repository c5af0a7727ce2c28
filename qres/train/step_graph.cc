#include "qres/train/step_graph.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "c10/util/Exception.h"
#include "qres/optim/optimizer.h"

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
                         int64_t warm_steps, int64_t max_captures)
    : graph_(std::move(graph)),
      params_(std::move(params)),
      batch_size_(batch_size),
      warm_steps_(warm_steps),
      max_captures_(max_captures) {
  TORCH_CHECK(graph_ != nullptr, "GraphedStep needs a StepGraph");
}

at::Tensor GraphedStep::Run(const at::Tensor& images, const at::Tensor& labels, const Work& work,
                            const OptimizerStep* optimizer) {
  const auto step_as_it_is = [&](at::Tensor loss) {
    if (optimizer != nullptr) {
      optimizer->prepare();
      optimizer->launch();
    }
    return loss;
  };
  if (images.size(0) != batch_size_ || given_up_) return step_as_it_is(work(images, labels));  // its own shapes
  if (warm_steps_ > 0) {
    --warm_steps_;
    at::Tensor loss;
    graph_->Warm([&] {
      loss = work(images, labels);
      return std::vector<at::Tensor>{loss};
    });
    return step_as_it_is(loss);
  }
  const auto has_grad = [](const at::Tensor& param) { return param.grad().defined(); };
  if (!loss_.defined() && !std::all_of(params_.begin(), params_.end(), has_grad)) {
    return step_as_it_is(work(images, labels));  // before backward has made every gradient
  }
  const StepGraph::Work recorded = [&] {
    std::vector<at::Tensor> outputs{work(images_, labels_)};
    if (optimizer != nullptr) optimizer->launch();
    return outputs;
  };
  if (!images_.defined()) {
    images_ = images.clone();  // the same strides (channels-last stays so)
    labels_ = labels.clone();
  } else {
    images_.copy_(images);
    labels_.copy_(labels);
  }
  std::string key;
  if (optimizer != nullptr) {
    optimizer->prepare();
    key = optimizer->key();
  }
  if (loss_.defined() && key == key_) {
    for (size_t i = 0; i < params_.size(); ++i) {
      TORCH_CHECK(params_[i].grad().is_same(grads_[i]), "parameter ", i, "'s gradient is not the one the graph ",
                  "writes: zero the gradients in place (zero_grad(false))");
    }
    graph_->Replay(recorded);
    ++replays_;
    return loss_;
  }
  loss_ = at::Tensor();  // the last capture's memory goes with it
  if (captures_ == max_captures_) {
    given_up_ = true;
    graph_.reset();
    grads_.clear();
    at::Tensor loss = work(images, labels);
    if (optimizer != nullptr) optimizer->launch();  // prepared above
    return loss;
  }
  std::vector<at::Tensor> grads;  // where the graph's backward writes and the optimizer reads
  for (const at::Tensor& param : params_) grads.push_back(param.grad());
  const std::vector<at::Tensor> outputs = graph_->Capture(recorded);
  for (size_t i = 0; i < params_.size(); ++i) {
    TORCH_CHECK(grads[i].is_same(params_[i].grad()), "the captured step replaced parameter ", i,
                "'s gradient: zero the gradients in place (zero_grad(false))");
  }
  loss_ = outputs.front();
  grads_ = std::move(grads);
  key_ = std::move(key);
  ++captures_;
  return loss_;
}

std::optional<GraphedStep::OptimizerStep> OptimizerStepInGraph(torch::optim::Optimizer& optimizer) {
  auto* graphable = dynamic_cast<optim::QresOptimizer*>(&optimizer);
  if (graphable == nullptr || !graphable->SetGraphMode(true)) return std::nullopt;
  return GraphedStep::OptimizerStep{[&optimizer] { optimizer.step(); },  // in graph mode: the host's part
                                    [graphable] { graphable->LaunchPendingStep(); },
                                    [graphable] { return graphable->PendingStepKey(); }};
}

}  // namespace qres::train
