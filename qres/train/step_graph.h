// The device work of a training step (zero_grad, forward, loss, backward, the device-side sums)
// recorded once and replayed from a CUDA graph (train --cuda_graphs): one launch per step instead
// of hundreds, for nets whose step is bound by launches and host work rather than by the GPU.
//
//   GraphedStep graphed(MakeStepGraph(device), net->parameters(), batch_size);
//   at::Tensor loss = graphed.Run(batch.images, batch.labels, [&](auto& images, auto& labels) {
//     optimizer.zero_grad();  // set_to_none: backward allocates the gradients, in the graph's memory
//     at::Tensor loss = at::cross_entropy_loss(net->forward(images), labels);
//     loss.backward();
//     return loss;
//   });
//   optimizer.step();  // outside the graph (below)
//
// The optimizer step stays outside the graph: the fused step is two or three launches whose
// per-step scalars (α_t, Q_p, the stochastic streams' counter) travel as kernel arguments, which a
// replay would repeat unchanged. The work must read its inputs only from the tensors it is given
// and keep nothing but what it returns and in-place updates of tensors that outlive it (BatchNorm's
// running statistics, the epoch's sums): a replay repeats the recorded kernels on the same memory.
#ifndef QRES_TRAIN_STEP_GRAPH_H_
#define QRES_TRAIN_STEP_GRAPH_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ATen/core/Tensor.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "c10/core/Device.h"

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

// A training step's device work, replayed from a graph when the batch has the full batch's shape:
// the first `warm_steps` such batches run as they are (on the capture stream), the next is
// captured, and every later one is copied into the captured inputs and replayed. Other batches (a
// partial last batch) run as they are.
class GraphedStep {
 public:
  // (images, labels) -> the step's loss. It must set the gradients of `params` to none first, so
  // that backward allocates them: in the graph's memory when captured.
  using Work = std::function<at::Tensor(const at::Tensor& images, const at::Tensor& labels)>;

  GraphedStep(std::unique_ptr<StepGraph> graph, std::vector<at::Tensor> params, int64_t batch_size,
              int64_t warm_steps = 3);

  // Runs `work` on the batch; returns its loss. After a replay the gradients of `params` are the
  // captured ones again (a batch run as it is in between replaces them).
  at::Tensor Run(const at::Tensor& images, const at::Tensor& labels, const Work& work);

  bool captured() const { return captured_; }
  int64_t replays() const { return replays_; }

 private:
  std::unique_ptr<StepGraph> graph_;
  std::vector<at::Tensor> params_;
  int64_t batch_size_;
  int64_t warm_steps_;
  bool captured_ = false;
  int64_t replays_ = 0;
  at::Tensor images_, labels_;      // the captured inputs
  at::Tensor loss_;                 // the captured loss
  std::vector<at::Tensor> grads_;   // the captured gradients, by parameter (undefined: none)
};

}  // namespace qres::train

#endif  // QRES_TRAIN_STEP_GRAPH_H_
