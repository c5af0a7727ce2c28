#include "qres/train/emulated_step_graph.h"

#include <memory>
#include <vector>

#include "c10/util/Exception.h"
#include "qres/train/step_graph.h"

namespace qres::train {
namespace {

EmulatedStepGraphCounts counts;

class EmulatedStepGraph final : public StepGraph {
 public:
  void Warm(const Work& work) override {
    ++counts.warms;
    work();
  }

  std::vector<at::Tensor> Capture(const Work& work) override {
    ++counts.captures;
    captured_ = work();
    return captured_;
  }

  void Replay(const Work& work) override {
    ++counts.replays;
    const std::vector<at::Tensor> outputs = work();
    TORCH_CHECK(outputs.size() == captured_.size(), "a replay's work returned ", outputs.size(),
                " outputs; the captured one ", captured_.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      TORCH_CHECK(outputs[i].defined() == captured_[i].defined(), "output ", i,
                  " is defined in one of the capture and the replay only");
      if (outputs[i].defined()) captured_[i].copy_(outputs[i]);
    }
  }

 private:
  std::vector<at::Tensor> captured_;
};

}  // namespace

void RegisterEmulatedStepGraph() {
  RegisterStepGraph(c10::kCPU,
                    [](c10::Device) -> std::unique_ptr<StepGraph> { return std::make_unique<EmulatedStepGraph>(); });
}

EmulatedStepGraphCounts EmulatedStepGraphCountsSoFar() { return counts; }

}  // namespace qres::train
