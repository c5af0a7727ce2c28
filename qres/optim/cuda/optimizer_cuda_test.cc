// The fused CUDA step on a GPU (every rule, schedule, rounding, zero test and scope:
// fused_step_cases.h) against the CPU optimizers on the same gradients: bit-identical parameters
// and index trends over 100 steps that include index bumps, also with steps queued on two
// streams without a host sync between them, and replayed from CUDA graphs (graph mode). Needs a
// GPU (qres/base/gpu_test.h).
#include <memory>
#include <string>
#include <vector>

#include "ATen/Context.h"
#include "ATen/TensorOperators.h"
#include "ATen/cuda/CUDAGraph.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/round.h"
#include "ATen/ops/zeros.h"
#include "c10/cuda/CUDAFunctions.h"
#include "c10/cuda/CUDAGuard.h"
#include "c10/cuda/CUDAStream.h"
#include "gtest/gtest.h"
#include "qres/base/gpu_test.h"
#include "qres/optim/cuda/fused_step_cases.h"
#include "qres/optim/optimizer.h"

namespace qres::optim {
namespace {

class OptimizerCudaTest : public GpuTest, public ::testing::WithParamInterface<FusedStepCase> {};
using OptimizerCudaLogTest = GpuTest;
using OptimizerCudaStreamTest = GpuTest;

TEST_P(OptimizerCudaTest, EqualsTheCpuOptimizerBitForBit) {
  // Sizes around the 2048-element chunks, an empty tensor, one of 1221 chunks (four per block of
  // the H200's 304-block grid). 18 cases took 90-117 s on an H200 with 5 M elements, mostly on the
  // CPU side; 2.5 M halves that to fit the GPU bundle's 300 s.
  ExpectSameTrajectory(
      GetParam(), {7, 4097, 1, 0, 65536, 300, 2048, 2500000}, 100, [](const at::Tensor& t) { return t.cuda(); },
      [](torch::optim::Optimizer& optimizer) { optimizer.step(); });
}

// The same, small and short: for compute-sanitizer's memcheck, racecheck and synccheck (the GPU
// bundle's run.sh), which slow every kernel down many times.
TEST_P(OptimizerCudaTest, SmallEqualsTheCpuOptimizerBitForBit) {
  ExpectSameTrajectory(
      GetParam(), {7, 4097, 1, 0, 2048, 300}, 8, [](const at::Tensor& t) { return t.cuda(); },
      [](torch::optim::Optimizer& optimizer) { optimizer.step(); });
}

// The step must add the quantized updates, not h: parameters that start at 0 stay on the grid
// 1/128 (Q_p is 32, 64 or 128 within 100 steps of 10 per epoch at eta = 64).
TEST_F(OptimizerCudaLogTest, AddsTheQuantizedUpdates) {
  for (const std::string algorithm : {"QtAdamW", "QSGD"}) {
    std::vector<at::Tensor> params = {at::zeros({4099}).cuda().requires_grad_()};
    OptimizerSpec spec;
    spec.lr = 0.05;
    spec.quant_params = "schedule=log,eta=64,rounding=floor";
    spec.batches_per_epoch = 10;
    spec.epochs = 10;
    auto optimizer = OptimizerRegistry::Create(algorithm, params, spec);
    ASSERT_TRUE(optimizer.ok()) << optimizer.status();
    for (int step = 0; step < 100; ++step) {
      params[0].mutable_grad() = at::randn({4099}).cuda();
      (*optimizer)->step();
    }
    const at::Tensor scaled = params[0].detach().cpu() * 128.0;
    EXPECT_TRUE(at::equal(scaled, scaled.round())) << algorithm << ": parameters left the 1/128 grid";
    EXPECT_GT(params[0].detach().abs().sum().item<double>(), 0.0) << algorithm;
  }
}

// One optimizer over CPU and GPU copies of the same parameters, with every step's gradients made
// and uploaded up front, so the GPU steps can be queued without a host sync between them.
struct TwinRun {
  std::vector<at::Tensor> cpu, gpu;
  std::unique_ptr<torch::optim::Optimizer> on_cpu, on_gpu;
  std::vector<std::vector<at::Tensor>> cpu_grads, gpu_grads;  // [step][tensor]

  TwinRun(const FusedStepCase& c, const std::vector<int64_t>& sizes, int steps) {
    for (int64_t numel : sizes) {
      const at::Tensor p = at::randn({numel});
      cpu.push_back(p.clone().requires_grad_());
      gpu.push_back(p.cuda().requires_grad_());
    }
    for (int step = 0; step < steps; ++step) {
      cpu_grads.emplace_back();
      gpu_grads.emplace_back();
      for (int64_t numel : sizes) {
        cpu_grads.back().push_back(at::randn({numel}) * (0.1 / (1 + step)));
        gpu_grads.back().push_back(cpu_grads.back().back().cuda());
      }
    }
    const OptimizerSpec spec = SpecOf(c);
    auto made_cpu = OptimizerRegistry::Create(c.algorithm, cpu, spec);
    auto made_gpu = OptimizerRegistry::Create(c.algorithm, gpu, spec);
    EXPECT_TRUE(made_cpu.ok() && made_gpu.ok()) << c.algorithm << " " << c.quant_params;
    if (made_cpu.ok()) on_cpu = *std::move(made_cpu);
    if (made_gpu.ok()) on_gpu = *std::move(made_gpu);
    c10::cuda::device_synchronize();  // the uploads are done before any stream steps
  }

  // Step `step` on the CPU, and queued on the GPU's current stream.
  void Step(int step) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      cpu[i].mutable_grad() = cpu_grads[step][i];
      gpu[i].mutable_grad() = gpu_grads[step][i];
    }
    on_cpu->step();
    on_gpu->step();
  }

  void ExpectSameEnd(const std::string& what) {
    c10::cuda::device_synchronize();
    for (size_t i = 0; i < cpu.size(); ++i) {
      EXPECT_TRUE(SameValues(cpu[i].detach(), gpu[i].detach().cpu())) << what << ", tensor " << i;
    }
    const Quantizer* q_cpu = QuantizerOf(*on_cpu);
    const Quantizer* q_gpu = QuantizerOf(*on_gpu);
    if (q_cpu != nullptr && q_gpu != nullptr) {
      EXPECT_EQ(q_cpu->trend(), q_gpu->trend()) << what;
    }
  }
};

// Steps of one optimizer alternate between the default stream and a side stream with no sync in
// between: each must still follow the previous one (the stepper's event), and the last-block
// counter must start every step at 0. Tensors large enough that a step is still running when the
// next one is queued.
TEST_F(OptimizerCudaStreamTest, StepsAlternatingBetweenTwoStreamsEqualTheCpu) {
  const std::vector<FusedStepCase> cases = {{"QtAdamW", "weight_decay=0.01", ""},
                                            {"QSGD", "momentum=0.9", "scope=per_tensor"},
                                            {"QtAdamW", "", "schedule=log,eta=64"},
                                            {"SGD", "momentum=0.9", ""}};
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  for (const FusedStepCase& c : cases) {
    at::manual_seed(11);
    TwinRun run(c, {4097, 2500000, 300, 1}, 30);
    ASSERT_TRUE(run.on_gpu != nullptr);
    for (int step = 0; step < 30; ++step) {
      if (step % 2 == 0) {
        run.Step(step);
      } else {
        const c10::cuda::CUDAStreamGuard on_side(side);
        run.Step(step);
      }
    }
    run.ExpectSameEnd(c.algorithm + " " + c.quant_params);
  }
}

// Two optimizers step at once, each on its own stream: nothing of one's step may reach the
// other's (each stepper has its own workspaces and counter).
TEST_F(OptimizerCudaStreamTest, TwoOptimizersOnTwoStreamsAtOnceEqualTheCpu) {
  at::manual_seed(12);
  TwinRun first({"QtAdamW", "", ""}, {4097, 2500000, 300}, 20);
  TwinRun second({"QSGD", "", "zero_test=all_zero"}, {65536, 2000000, 7}, 20);
  ASSERT_TRUE(first.on_gpu != nullptr && second.on_gpu != nullptr);
  const c10::cuda::CUDAStream stream_one = c10::cuda::getStreamFromPool();
  const c10::cuda::CUDAStream stream_two = c10::cuda::getStreamFromPool();
  for (int step = 0; step < 20; ++step) {
    {
      const c10::cuda::CUDAStreamGuard on_one(stream_one);
      first.Step(step);
    }
    const c10::cuda::CUDAStreamGuard on_two(stream_two);
    second.Step(step);
  }
  first.ExpectSameEnd("QtAdamW on stream one");
  second.ExpectSameEnd("QSGD on stream two");
}

// Graph mode (cuda_stepper.h) under a real CUDA graph: the step's kernels captured once on a side
// stream and replayed for every later step whose launch key is the same (captured again when it
// changes), the values uploaded before each replay: bit-identical to the CPU optimizer, as the
// eager steps are, in every configuration.
TEST_P(OptimizerCudaTest, GraphModeReplaysEqualTheCpuOptimizerBitForBit) {
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool();
  std::unique_ptr<at::cuda::CUDAGraph> graph;
  std::string captured;
  int captures = 0, replays = 0;
  ExpectSameTrajectory(
      GetParam(), {7, 4097, 1, 0, 65536, 300, 2048}, 30, [](const at::Tensor& t) { return t.cuda(); },
      [&](torch::optim::Optimizer& optimizer) {
        auto& graphed = dynamic_cast<QresOptimizer&>(optimizer);
        ASSERT_TRUE(graphed.SetGraphMode(true));
        optimizer.step();  // the host's part, and the values' upload
        const std::string key = graphed.PendingStepKey();
        if (graph == nullptr || key != captured) {
          c10::cuda::device_synchronize();  // the side stream after everything so far
          graph = std::make_unique<at::cuda::CUDAGraph>();
          {
            const c10::cuda::CUDAStreamGuard on_side(side);
            graph->capture_begin();
            graphed.LaunchPendingStep();
            graph->capture_end();
          }
          captured = key;
          ++captures;
        } else {
          ++replays;
        }
        graph->replay();
      });
  EXPECT_GT(replays, 20);
  EXPECT_LE(captures, 4);  // the first step; tensor 2 sits out step 5 and is back at 6; the offset's end
}

INSTANTIATE_TEST_SUITE_P(Cases, OptimizerCudaTest, ::testing::ValuesIn(FusedStepCases()), FusedStepCaseName);

}  // namespace
}  // namespace qres::optim
