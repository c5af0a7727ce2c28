// GraphedStep over a real CUDA graph (cuda_step_graph.cc): a small net trained with its steps
// replayed from a graph, the fused CUDA optimizer step in it, equals the same net trained eagerly
// on the same GPU bit for bit (deterministic cuDNN), a partial batch between replays included, in
// fp32 and bf16, with the optimizer in the graph and after it. Needs a GPU (qres/base/gpu_test.h).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ATen/Context.h"
#include "ATen/ops/cross_entropy_loss.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randint.h"
#include "ATen/ops/randn.h"
#include "c10/cuda/CUDAFunctions.h"
#include "gtest/gtest.h"
#include "qres/base/gpu_test.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/train/precision.h"
#include "qres/train/step_graph.h"

namespace qres::train {
namespace {

constexpr int64_t kBatch = 32;

using StepGraphCudaTest = GpuTest;

// A net and its optimizer on the GPU, from the same seed each time.
struct Trainee {
  std::shared_ptr<models::Net> net;
  std::unique_ptr<torch::optim::Optimizer> optimizer;

  explicit Trainee(const std::string& algorithm) {
    at::manual_seed(21);
    models::ModelSpec spec;
    auto made = models::CreateModel("CNN", spec);
    EXPECT_TRUE(made.ok()) << made.status();
    net = *made;
    net->to(c10::Device(c10::kCUDA));
    optim::OptimizerSpec optimizer_spec;
    optimizer_spec.lr = 0.01;
    auto made_optimizer = optim::OptimizerRegistry::Create(algorithm, net->parameters(), optimizer_spec);
    EXPECT_TRUE(made_optimizer.ok()) << made_optimizer.status();
    optimizer = *std::move(made_optimizer);
  }

  at::Tensor ForwardBackward(const at::Tensor& images, const at::Tensor& labels, Precision precision,
                             bool set_to_none) {
    optimizer->zero_grad(set_to_none);
    at::Tensor loss;
    {
      const AutocastScope autocast(precision, c10::Device(c10::kCUDA));
      loss = at::cross_entropy_loss(net->forward(images), labels);
    }
    loss.backward();
    return loss.detach();
  }
};

TEST_F(StepGraphCudaTest, GraphedTrainingEqualsEagerTrainingBitForBit) {
  at::globalContext().setDeterministicCuDNN(true);
  for (const std::string algorithm : {"QtAdamW", "QSGD", "AdamW", "Adam"}) {  // Adam: ATen ops, after the graph
    for (const Precision precision : {Precision::kFp32, Precision::kBf16}) {
      const std::string what = algorithm + " " + ToString(precision);
      Trainee eager(algorithm), graphed(algorithm);
      GraphedStep step(MakeStepGraph(c10::Device(c10::kCUDA)), graphed.net->parameters(), kBatch);
      const std::optional<GraphedStep::OptimizerStep> in_graph = OptimizerStepInGraph(*graphed.optimizer);
      EXPECT_EQ(in_graph.has_value(), algorithm != "Adam") << what;
      const GraphedStep::Work work = [&](const at::Tensor& images, const at::Tensor& labels) {
        return graphed.ForwardBackward(images, labels, precision, /*set_to_none=*/false);
      };
      at::manual_seed(22);
      for (int b = 0; b < 14; ++b) {
        const int64_t size = b == 7 ? kBatch - 12 : kBatch;  // one partial batch between replays
        const at::Tensor images = at::randn({size, 1, 28, 28}).cuda();
        const at::Tensor labels = at::randint(0, 10, {size}, at::kLong).cuda();
        const at::Tensor eager_loss = eager.ForwardBackward(images, labels, precision, /*set_to_none=*/true);
        eager.optimizer->step();
        const at::Tensor loss = step.Run(images, labels, work, in_graph ? &*in_graph : nullptr);
        if (!in_graph) graphed.optimizer->step();
        ASSERT_TRUE(at::equal(loss.cpu(), eager_loss.cpu())) << what << ", batch " << b;
        const std::vector<at::Tensor> a = eager.net->parameters(), g = graphed.net->parameters();
        for (size_t i = 0; i < a.size(); ++i) {
          ASSERT_TRUE(at::equal(a[i].detach().cpu(), g[i].detach().cpu()))
              << what << ", batch " << b << ", tensor " << i;
        }
      }
      // 13 full batches: 3 warm, 1 captured, 9 replayed.
      EXPECT_EQ(step.captures(), 1) << what;
      EXPECT_EQ(step.replays(), 9) << what;
      EXPECT_FALSE(step.given_up()) << what;
    }
  }
}

}  // namespace
}  // namespace qres::train
