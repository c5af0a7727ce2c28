// The fused CUDA step (every rule, schedule, rounding, zero test and scope) against the CPU
// optimizers on the same gradients: bit-identical parameters and index trends over 100 steps that
// include index bumps. Needs a GPU: skipped with a message without one.
#include <string>
#include <vector>

#include "ATen/Context.h"
#include "ATen/TensorOperators.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/round.h"
#include "ATen/ops/zeros.h"
#include "gtest/gtest.h"
#include "qres/optim/optimizer.h"

namespace qres::optim {
namespace {

struct Case {
  std::string algorithm, optim_params, quant_params;
  bool zero_tensor = false;  // one tensor's gradient is always zero (the bump rule's worst case)
};

class OptimizerCudaTest : public ::testing::TestWithParam<Case> {};

TEST_P(OptimizerCudaTest, EqualsTheCpuOptimizerBitForBit) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA GPU here: run with --config=cuda --config=gpu on the GPU machine";
  at::manual_seed(5);
  std::vector<at::Tensor> cpu, gpu;
  // Sizes around the 2048-element chunks, one empty tensor, one of several thousand chunks.
  for (int64_t numel : {7, 4097, 1, 0, 65536, 300, 2048, 5000000}) {
    at::Tensor p = at::randn({numel});
    cpu.push_back(p.clone().requires_grad_());
    gpu.push_back(p.cuda().requires_grad_());
  }
  OptimizerSpec spec;
  spec.lr = 0.01;
  spec.optim_params = GetParam().optim_params;
  spec.quant_params = GetParam().quant_params;
  spec.batches_per_epoch = 10;  // the log schedule's time scale: Q_p steps up within the run
  spec.epochs = 10;
  auto on_cpu = OptimizerRegistry::Create(GetParam().algorithm, cpu, spec);
  auto on_gpu = OptimizerRegistry::Create(GetParam().algorithm, gpu, spec);
  ASSERT_TRUE(on_cpu.ok() && on_gpu.ok());
  for (int step = 0; step < 100; ++step) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      const bool zero = GetParam().zero_tensor && i == 1;
      const at::Tensor grad = zero ? at::zeros(cpu[i].sizes()) : at::randn(cpu[i].sizes()) * (0.1 / (1 + step));
      cpu[i].mutable_grad() = grad;
      gpu[i].mutable_grad() = grad.cuda();
    }
    (*on_cpu)->step();
    (*on_gpu)->step();
    if (step % 10 != 9) continue;
    for (size_t i = 0; i < cpu.size(); ++i) {
      ASSERT_TRUE(at::equal(cpu[i].detach(), gpu[i].detach().cpu())) << "tensor " << i << ", step " << step;
    }
  }
  const Quantizer* q_cpu = QuantizerOf(**on_cpu);
  const Quantizer* q_gpu = QuantizerOf(**on_gpu);
  if (q_cpu != nullptr) {
    EXPECT_EQ(q_cpu->trend(), q_gpu->trend());
  }
}

// The step must add the quantized updates, not h: parameters that start at 0 stay on the grid
// 1/128 (Q_p is 32, 64 or 128 within 100 steps of 10 per epoch at eta = 64).
TEST(OptimizerCudaLogTest, AddsTheQuantizedUpdates) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA GPU here: run with --config=cuda --config=gpu on the GPU machine";
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

INSTANTIATE_TEST_SUITE_P(
    Algorithms, OptimizerCudaTest,
    ::testing::Values(Case{"AdamW", "weight_decay=0.05", ""},
                      Case{"QtAdamW", "weight_decay=0.01", ""},
                      Case{"QtAdam", "weight_decay=0.01", "rounding=floor"},
                      Case{"QtAdamW", "", "rounding=stochastic,seed=9,scope=per_tensor"},
                      Case{"QtAdamW", "", "rounding=nearest_even,zero_test=all_zero,qp=-3,index_limit=12"},
                      Case{"QtAdamW", "", "check_first_step=false,index_limit=64", true},
                      Case{"QtAdamW", "weight_decay=0.01", "schedule=log,eta=64"},
                      Case{"QtAdam", "", "schedule=log,rounding=stochastic,seed=3"},
                      Case{"QtAdamW", "", "schedule=log,offset=false,rounding=floor"},
                      Case{"SGD", "momentum=0.9,nesterov=true,weight_decay=0.01", ""},
                      Case{"SGD", "", ""},
                      Case{"QSGD", "", ""},
                      Case{"QSGD", "momentum=0.8,dampening=0.1", "zero_test=all_zero"},
                      Case{"QSGD", "weight_decay=0.001", "scope=per_tensor,rounding=floor", true},
                      Case{"QSGD", "", "schedule=log,rounding=nearest_even"}),
    [](const auto& info) { return "case" + std::to_string(info.index) + "_" + info.param.algorithm; });

}  // namespace
}  // namespace qres::optim
