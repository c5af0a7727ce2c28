// The step graph on a GPU (step_graph.h): at::cuda::CUDAGraph, captured on a side stream of the
// device (a capture cannot run on the legacy default stream), whose warm-up steps run there too so
// that cuBLAS's and cuDNN's lazy set-up for that stream happens before the capture. Replays run on
// the current stream. Registered at start-up for CUDA devices.
#include <functional>
#include <memory>
#include <vector>

#include "ATen/cuda/CUDAGraph.h"
#include "c10/cuda/CUDAEvent.h"
#include "c10/cuda/CUDAGuard.h"
#include "c10/cuda/CUDAStream.h"
#include "c10/util/Exception.h"
#include "qres/train/step_graph.h"

namespace qres::train {
namespace {

class CudaStepGraph final : public StepGraph {
 public:
  explicit CudaStepGraph(c10::Device device)
      : device_(device), side_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())) {}

  void Warm(const Work& work) override {
    OnSideStream([&] { work(); });
  }

  std::vector<at::Tensor> Capture(const Work& work) override {
    // A CUDAGraph captures once: a new capture is a new one (the old one's memory pool goes).
    graph_.reset();
    graph_ = std::make_unique<at::cuda::CUDAGraph>();
    std::vector<at::Tensor> outputs;
    OnSideStream([&] {
      graph_->capture_begin();
      try {
        outputs = work();
      } catch (const c10::Error& error) {
        // End the capture, so that the error reaches the user rather than a stream left capturing.
        try {
          graph_->capture_end();
        } catch (const c10::Error&) {
        }
        TORCH_CHECK(false, "capturing the training step as a CUDA graph (--cuda_graphs=off trains without one): ",
                    error.what_without_backtrace());
      }
      graph_->capture_end();
    });
    Replay(work);  // a capture runs nothing
    return outputs;
  }

  void Replay(const Work&) override {
    const c10::cuda::CUDAGuard guard(device_);
    graph_->replay();  // on the current stream
  }

 private:
  // `run` on the side stream, ordered after everything queued on the current stream and before
  // everything queued there after it (events: the host does not wait).
  void OnSideStream(const std::function<void()>& run) {
    const c10::cuda::CUDAGuard guard(device_);
    const c10::cuda::CUDAStream current = c10::cuda::getCurrentCUDAStream(device_.index());
    c10::cuda::CUDAEvent before;
    before.record(current);
    before.block(side_);
    {
      const c10::cuda::CUDAStreamGuard on_side(side_);
      run();
    }
    c10::cuda::CUDAEvent after;
    after.record(side_);
    after.block(current);
  }

  c10::Device device_;
  c10::cuda::CUDAStream side_;
  std::unique_ptr<at::cuda::CUDAGraph> graph_;
};

[[maybe_unused]] const bool registered = [] {
  RegisterStepGraph(c10::kCUDA, [](c10::Device device) -> std::unique_ptr<StepGraph> {
    return std::make_unique<CudaStepGraph>(device);
  });
  return true;
}();

}  // namespace
}  // namespace qres::train
