// GraphedStep's batching over the tests' stand-in graph: which batches are warmed, captured,
// replayed or run as they are, that each reaches the captured inputs, and that the host reads the
// captured loss and gradients after every replay.
#include "qres/train/step_graph.h"

#include <vector>

#include "ATen/ops/arange.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "gtest/gtest.h"
#include "qres/train/emulated_step_graph.h"

namespace qres::train {
namespace {

constexpr int64_t kBatch = 6;

// A least-squares step: w's gradient and the loss of one batch; `unused` never gets a gradient.
struct Problem {
  at::Tensor w = at::randn({4}).requires_grad_(true);
  at::Tensor unused = at::randn({2}).requires_grad_(true);

  at::Tensor Step(const at::Tensor& images, const at::Tensor& labels) {
    w.mutable_grad() = at::Tensor();  // set to none, as optimizers' zero_grad does
    unused.mutable_grad() = at::Tensor();
    at::Tensor loss = images.matmul(w).sub(labels.to(at::kFloat)).pow(2).mean();
    loss.backward();
    return loss.detach();
  }
};

struct Batch {
  at::Tensor images, labels;
};

Batch MakeBatch(int64_t size, int64_t seed) {
  return {at::randn({size, 4}), at::arange(seed, seed + size, at::kLong)};
}

class GraphedStepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegisterEmulatedStepGraph();
    at::manual_seed(3);
  }
};

TEST_F(GraphedStepTest, EveryFullBatchReachesTheCapturedInputs) {
  Problem graphed_problem, eager_problem;
  eager_problem.w = graphed_problem.w.detach().clone().requires_grad_(true);
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {graphed_problem.w, graphed_problem.unused}, kBatch,
                      /*warm_steps=*/2);
  const EmulatedStepGraphCounts before = EmulatedStepGraphCountsSoFar();
  const GraphedStep::Work work = [&](const at::Tensor& images, const at::Tensor& labels) {
    return graphed_problem.Step(images, labels);
  };
  for (int64_t b = 0; b < 6; ++b) {
    const Batch batch = MakeBatch(kBatch, 10 * b);
    const at::Tensor loss = graphed.Run(batch.images, batch.labels, work);
    const at::Tensor expected = eager_problem.Step(batch.images, batch.labels);
    EXPECT_TRUE(at::equal(loss, expected)) << "batch " << b;
    EXPECT_TRUE(at::equal(graphed_problem.w.grad(), eager_problem.w.grad())) << "batch " << b;
    EXPECT_FALSE(graphed_problem.unused.grad().defined()) << "batch " << b;
  }
  const EmulatedStepGraphCounts after = EmulatedStepGraphCountsSoFar();
  EXPECT_EQ(after.warms - before.warms, 2);
  EXPECT_EQ(after.captures - before.captures, 1);
  EXPECT_EQ(after.replays - before.replays, 3);
  EXPECT_EQ(graphed.replays(), 3);
}

TEST_F(GraphedStepTest, APartialBatchRunsAsItIsAndTheCapturedGradientsComeBack) {
  Problem problem;
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {problem.w, problem.unused}, kBatch, /*warm_steps=*/0);
  const GraphedStep::Work work = [&](const at::Tensor& images, const at::Tensor& labels) {
    return problem.Step(images, labels);
  };
  const Batch first = MakeBatch(kBatch, 0);
  const at::Tensor captured_loss = graphed.Run(first.images, first.labels, work);
  ASSERT_TRUE(graphed.captured());
  const void* captured_grad = problem.w.grad().data_ptr();

  const Batch partial = MakeBatch(kBatch - 2, 100);
  const EmulatedStepGraphCounts before = EmulatedStepGraphCountsSoFar();
  graphed.Run(partial.images, partial.labels, work);
  EXPECT_EQ(EmulatedStepGraphCountsSoFar().replays, before.replays);  // run as it is
  EXPECT_NE(problem.w.grad().data_ptr(), captured_grad);  // the partial batch's own gradient

  const Batch next = MakeBatch(kBatch, 200);
  const at::Tensor loss = graphed.Run(next.images, next.labels, work);
  EXPECT_EQ(loss.data_ptr(), captured_loss.data_ptr());  // rewritten in place, as by a graph
  EXPECT_EQ(problem.w.grad().data_ptr(), captured_grad);
  Problem check;
  check.w = problem.w.detach().clone().requires_grad_(true);
  EXPECT_TRUE(at::equal(loss, check.Step(next.images, next.labels)));
  EXPECT_TRUE(at::equal(problem.w.grad(), check.w.grad()));
}

}  // namespace
}  // namespace qres::train
