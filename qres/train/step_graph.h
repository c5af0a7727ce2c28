// A training step recorded once and replayed from a CUDA graph (train --cuda_graphs): one launch
// per step instead of hundreds, for nets whose step is bound by launches and host work rather
// than by the GPU.
//
//   GraphedStep graphed(MakeStepGraph(device), net->parameters(), batch_size);
//   std::optional<GraphedStep::OptimizerStep> in_graph = OptimizerStepInGraph(*optimizer);
//   at::Tensor loss = graphed.Run(batch.images, batch.labels, [&](auto& images, auto& labels) {
//     optimizer->zero_grad(/*set_to_none=*/false);  // the gradients stay where the graph wrote them
//     at::Tensor loss = at::cross_entropy_loss(net->forward(images), labels);
//     loss.backward();
//     return loss.detach();
//   }, in_graph ? &*in_graph : nullptr);
//   if (!in_graph) optimizer->step();
//
// The work must read its inputs only from the tensors it is given, zero the gradients in place,
// and keep nothing but what it returns and in-place updates of tensors that outlive it (BatchNorm's
// running statistics, the epoch's sums): a replay repeats the recorded kernels on the same memory.
// An optimizer step that is not the fused CUDA step (another optimizer, or fp16's loss scaler,
// which decides on the host whether to step) runs after Run, outside the graph.
#ifndef QRES_TRAIN_STEP_GRAPH_H_
#define QRES_TRAIN_STEP_GRAPH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "c10/core/Device.h"
#include "torch/optim/optimizer.h"

namespace qres::train {

// Whether a run replays its steps from a CUDA graph (--cuda_graphs).
enum class CudaGraphs { kOff, kOn, kAuto };  // auto: where it applies (one process on a GPU)

// off, on or auto (any case); anything else is an error naming the flag.
absl::StatusOr<CudaGraphs> ParseCudaGraphs(absl::string_view name);

// Records and replays device work: a CUDA graph (//qres/train/cuda, --config=cuda builds), or the
// CPU stand-in of the tests (emulated_step_graph.h).
class StepGraph {
 public:
  // The work; returns the tensors the host reads after a replay.
  using Work = std::function<std::vector<at::Tensor>()>;
  virtual ~StepGraph() = default;
  // Runs `work` as it is, where captures run (a CUDA graph's side stream): lazy initialisations
  // happen there before a capture.
  virtual void Warm(const Work& work) = 0;
  // Records `work` and runs it once; returns its outputs, which every Replay rewrites in place.
  virtual std::vector<at::Tensor> Capture(const Work& work) = 0;
  // Runs the recorded work again, after what the device has queued. `work` is the same work as
  // the captured one, for a stand-in that runs it instead (a CUDA graph does not call it).
  virtual void Replay(const Work& work) = 0;
};

using StepGraphFactory = std::unique_ptr<StepGraph> (*)(c10::Device device);
// Registers the graphs of `type` devices (the CUDA plugin at start-up; the tests' stand-in for
// the CPU).
void RegisterStepGraph(c10::DeviceType type, StepGraphFactory factory);
// A new graph for `device`, or nullptr when none is registered for its type.
std::unique_ptr<StepGraph> MakeStepGraph(c10::Device device);
bool StepGraphRegistered(c10::DeviceType type);

// A training step replayed from a graph when the batch has the full batch's shape: the first
// `warm_steps` such batches run as they are (the work on the capture stream), the next is
// captured, and every later one is copied into the captured inputs and replayed. Other batches (a
// partial last batch, or one before every parameter has a gradient) run as they are.
class GraphedStep {
 public:
  // (images, labels) -> the step's loss; see above.
  using Work = std::function<at::Tensor(const at::Tensor& images, const at::Tensor& labels)>;
  // The optimizer step in the graph: `prepare` is its host part, run before each replay and
  // before the capture (its values uploaded, its launch left pending); `launch` enqueues its
  // kernels after the work's; while `key` (the kernels' arguments) stays the captured one the
  // graph replays, else it is captured again.
  struct OptimizerStep {
    std::function<void()> prepare, launch;
    std::function<std::string()> key;
  };

  // After `max_captures` captures, a step that would be captured again runs as it is, and so do
  // all after it (given_up()): a graph captured anew at every step would be slower than none.
  GraphedStep(std::unique_ptr<StepGraph> graph, std::vector<at::Tensor> params, int64_t batch_size,
              int64_t warm_steps = 3, int64_t max_captures = 8);

  // Runs `work`, then `optimizer` when given, on the batch; returns the work's loss (after a
  // replay, the captured loss tensor, rewritten).
  at::Tensor Run(const at::Tensor& images, const at::Tensor& labels, const Work& work,
                 const OptimizerStep* optimizer = nullptr);

  int64_t captures() const { return captures_; }
  int64_t replays() const { return replays_; }
  bool given_up() const { return given_up_; }

 private:
  std::unique_ptr<StepGraph> graph_;
  std::vector<at::Tensor> params_;
  int64_t batch_size_;
  int64_t warm_steps_;
  int64_t max_captures_;
  int64_t captures_ = 0, replays_ = 0;
  bool given_up_ = false;
  at::Tensor images_, labels_;     // the captured inputs
  at::Tensor loss_;                // the captured loss
  std::vector<at::Tensor> grads_;  // the gradients the graph writes (kept alive for it)
  std::string key_;                // the captured optimizer step's
};

// `optimizer`'s step for the graph: the optimizer set to graph mode (QresOptimizer::SetGraphMode),
// or nullopt where it cannot be (not a qres optimizer on the fused CUDA step).
std::optional<GraphedStep::OptimizerStep> OptimizerStepInGraph(torch::optim::Optimizer& optimizer);

}  // namespace qres::train

#endif  // QRES_TRAIN_STEP_GRAPH_H_
