// GraphedStep's batching over the tests' stand-in graph: which batches are warmed, captured,
// replayed or run as they are, that each reaches the captured inputs, that the host reads the
// captured loss after every replay, and when an optimizer step in the graph is captured again.
#include "qres/train/step_graph.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "ATen/ops/arange.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/zeros.h"
#include "c10/util/Exception.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/train/emulated_step_graph.h"

namespace qres::train {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kBatch = 6;

// A least-squares step: w's gradient, zeroed in place as the graph needs, and the batch's loss.
struct Problem {
  at::Tensor w = at::randn({4}).requires_grad_(true);

  at::Tensor Step(const at::Tensor& images, const at::Tensor& labels) {
    if (w.grad().defined()) w.mutable_grad().zero_();
    at::Tensor loss = images.matmul(w).sub(labels.to(at::kFloat)).pow(2).mean();
    loss.backward();
    return loss.detach();
  }
};

struct Batch {
  at::Tensor images, labels;
};

Batch MakeBatch(int64_t size, int64_t seed) { return {at::randn({size, 4}), at::arange(seed, seed + size, at::kLong)}; }

// A work and an optimizer step that record, in order, what runs; the optimizer's key comes from
// `key`.
struct Recorder {
  Problem problem;
  std::vector<std::string> events;
  GraphedStep::Work work = [this](const at::Tensor& images, const at::Tensor& labels) {
    events.push_back("work");
    return problem.Step(images, labels);
  };
  GraphedStep::OptimizerStep optimizer;

  explicit Recorder(std::function<std::string()> key)
      : optimizer{[this] { events.push_back("prepare"); }, [this] { events.push_back("launch"); }, std::move(key)} {}
};

// The message of the c10::Error `run` throws ("" for none).
std::string ErrorOf(const std::function<void()>& run) {
  try {
    run();
  } catch (const c10::Error& error) {
    return error.msg();
  }
  return "";
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
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {graphed_problem.w}, kBatch, /*warm_steps=*/2);
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
  }
  const EmulatedStepGraphCounts after = EmulatedStepGraphCountsSoFar();
  EXPECT_EQ(after.warms - before.warms, 2);
  EXPECT_EQ(after.captures - before.captures, 1);
  EXPECT_EQ(after.replays - before.replays, 3);
  EXPECT_EQ(graphed.captures(), 1);
  EXPECT_EQ(graphed.replays(), 3);
}

TEST_F(GraphedStepTest, APartialBatchRunsAsItIsBetweenReplays) {
  Problem problem;
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {problem.w}, kBatch, /*warm_steps=*/1);
  const GraphedStep::Work work = [&](const at::Tensor& images, const at::Tensor& labels) {
    return problem.Step(images, labels);
  };
  const Batch warm = MakeBatch(kBatch, 0);
  graphed.Run(warm.images, warm.labels, work);
  const void* grad = problem.w.grad().data_ptr();
  const Batch first = MakeBatch(kBatch, 0);
  const at::Tensor captured_loss = graphed.Run(first.images, first.labels, work);
  ASSERT_EQ(graphed.captures(), 1);

  const Batch partial = MakeBatch(kBatch - 2, 100);
  Problem check;
  check.w = problem.w.detach().clone().requires_grad_(true);
  const at::Tensor partial_loss = graphed.Run(partial.images, partial.labels, work);
  EXPECT_EQ(graphed.replays(), 0);  // run as it is
  EXPECT_TRUE(at::equal(partial_loss, check.Step(partial.images, partial.labels)));

  const Batch next = MakeBatch(kBatch, 200);
  const at::Tensor loss = graphed.Run(next.images, next.labels, work);
  EXPECT_EQ(graphed.replays(), 1);
  EXPECT_EQ(loss.data_ptr(), captured_loss.data_ptr());  // rewritten in place, as by a graph
  EXPECT_EQ(problem.w.grad().data_ptr(), grad);          // zeroed and written in place throughout
  EXPECT_TRUE(at::equal(loss, check.Step(next.images, next.labels)));
  EXPECT_TRUE(at::equal(problem.w.grad(), check.w.grad()));
}

// The optimizer step's host part runs before every step, its kernels after the work's (in the
// graph when captured); a new key is a new capture.
TEST_F(GraphedStepTest, AnOptimizerStepInTheGraphIsCapturedAgainWhenItsKeyChanges) {
  int64_t step = 0;
  Recorder recorder([&] { return std::string(step < 3 ? "a" : "b"); });
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {recorder.problem.w}, kBatch, /*warm_steps=*/1);
  for (; step < 5; ++step) {
    const Batch batch = MakeBatch(kBatch, step);
    graphed.Run(batch.images, batch.labels, recorder.work, &recorder.optimizer);
  }
  // Warm, captured (key a), replayed, captured again (key b), replayed.
  EXPECT_EQ(graphed.captures(), 2);
  EXPECT_EQ(graphed.replays(), 2);
  const std::vector<std::string> each_step = {"work", "prepare", "launch"};  // as it is
  const std::vector<std::string> graphed_step = {"prepare", "work", "launch"};
  std::vector<std::string> expected = each_step;
  for (int i = 1; i < 5; ++i) expected.insert(expected.end(), graphed_step.begin(), graphed_step.end());
  EXPECT_EQ(recorder.events, expected);
}

// A graph captured anew at every step would be slower than none: after max_captures captures the
// steps run as they are, in the same order (the optimizer's kernels after the work's).
TEST_F(GraphedStepTest, AStepWhoseKeyKeepsChangingRunsWithoutAGraph) {
  int64_t step = 0;
  Recorder recorder([&] { return std::to_string(step); });
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {recorder.problem.w}, kBatch, /*warm_steps=*/0, /*max_captures=*/2);
  for (; step < 5; ++step) {
    const Batch batch = MakeBatch(kBatch, step);
    graphed.Run(batch.images, batch.labels, recorder.work, &recorder.optimizer);
    EXPECT_EQ(graphed.given_up(), step >= 3) << "step " << step;
  }
  EXPECT_EQ(graphed.captures(), 2);
  EXPECT_EQ(graphed.replays(), 0);
  // Step 0 runs as it is (no gradient yet), 1 and 2 are captured, 3 gives up, 4 runs as it is.
  const std::vector<std::string> expected = {"work",   "prepare", "launch", "prepare", "work",
                                             "launch", "prepare", "work",   "launch",  "prepare",
                                             "work",   "launch",  "work",   "prepare", "launch"};
  EXPECT_EQ(recorder.events, expected);
}

TEST_F(GraphedStepTest, AWorkThatReplacesTheGradientsIsAnError) {
  Problem problem;
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {problem.w}, kBatch, /*warm_steps=*/1);
  const GraphedStep::Work work = [&](const at::Tensor& images, const at::Tensor& labels) {
    problem.w.mutable_grad() = at::Tensor();  // set to none: backward makes a new gradient
    return problem.Step(images, labels);
  };
  const Batch batch = MakeBatch(kBatch, 0);
  graphed.Run(batch.images, batch.labels, work);
  EXPECT_THAT(ErrorOf([&] { graphed.Run(batch.images, batch.labels, work); }),
              HasSubstr("the captured step replaced parameter 0's gradient: zero the gradients in place"));
}

// A batch run as it is between replays must keep the gradients too: the graph writes the captured
// ones.
TEST_F(GraphedStepTest, AReplayAfterTheGradientsWereReplacedIsAnError) {
  Problem problem;
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {problem.w}, kBatch, /*warm_steps=*/1);
  const GraphedStep::Work work = [&](const at::Tensor& images, const at::Tensor& labels) {
    return problem.Step(images, labels);
  };
  const Batch batch = MakeBatch(kBatch, 0);
  graphed.Run(batch.images, batch.labels, work);  // warm
  graphed.Run(batch.images, batch.labels, work);  // captured
  problem.w.mutable_grad() = at::zeros({4});
  EXPECT_THAT(ErrorOf([&] { graphed.Run(batch.images, batch.labels, work); }),
              HasSubstr("parameter 0's gradient is not the one the graph writes"));
}

TEST_F(GraphedStepTest, BatchesBeforeEveryParameterHasAGradientRunAsTheyAre) {
  Problem problem;
  const at::Tensor unused = at::randn({2}).requires_grad_(true);
  GraphedStep graphed(MakeStepGraph(c10::kCPU), {problem.w, unused}, kBatch, /*warm_steps=*/0);
  const GraphedStep::Work work = [&](const at::Tensor& images, const at::Tensor& labels) {
    return problem.Step(images, labels);
  };
  for (int64_t b = 0; b < 3; ++b) {
    const Batch batch = MakeBatch(kBatch, b);
    graphed.Run(batch.images, batch.labels, work);
  }
  EXPECT_EQ(graphed.captures(), 0);
}

TEST(ParseCudaGraphsTest, TakesOffOnAutoInAnyCase) {
  EXPECT_EQ(*ParseCudaGraphs("off"), CudaGraphs::kOff);
  EXPECT_EQ(*ParseCudaGraphs("ON"), CudaGraphs::kOn);
  EXPECT_EQ(*ParseCudaGraphs("Auto"), CudaGraphs::kAuto);
  EXPECT_EQ(ParseCudaGraphs("yes").status().message(), "--cuda_graphs=yes: use off, on or auto");
}

}  // namespace
}  // namespace qres::train
