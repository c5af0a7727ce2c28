// The fused CUDA step's kernels and host code, run on the CPU by the SIMT emulator, against the
// CPU optimizers on the same gradients: bit-identical parameters and index trends. This is the
// GPU path minus the GPU (the kernel code is fused_step.cu's, compiled for the host), so it runs
// everywhere, CI included; optimizer_cuda_test checks the same on a real GPU.
#include <string>
#include <vector>

#include "ATen/TensorOperators.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/zeros.h"
#include "gtest/gtest.h"
#include "qres/optim/cuda/fused_step_emulated.h"
#include "qres/optim/cuda/simt_emulator.h"
#include "qres/optim/cuda_step.h"
#include "qres/optim/optimizer.h"

namespace qres::optim {
namespace {

struct Case {
  std::string algorithm, optim_params, quant_params;
  bool zero_tensor = false;  // one tensor's gradient is always zero (the bump rule's worst case)
};

class FusedStepEmulatedTest : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    RegisterCudaStepper([]() -> std::unique_ptr<CudaStepper> {
      return std::make_unique<FusedStepper>(MakeEmulatedBackend());
    });
  }
  void TearDown() override { SetFusedCudaPathForCpuTensors(false); }
};

TEST_P(FusedStepEmulatedTest, EqualsTheCpuOptimizerBitForBit) {
  at::manual_seed(5);
  std::vector<at::Tensor> reference, emulated;
  // Sizes around the 2048-element chunks (one block each) and an empty tensor.
  for (int64_t numel : {7, 4097, 1, 0, 2048, 300}) {
    const at::Tensor p = at::randn({numel});
    reference.push_back(p.clone().requires_grad_());
    emulated.push_back(p.clone().requires_grad_());
  }
  OptimizerSpec spec;
  spec.lr = 0.01;
  spec.optim_params = GetParam().optim_params;
  spec.quant_params = GetParam().quant_params;
  spec.batches_per_epoch = 3;  // the log schedule's clock: Q_p steps up within the run
  spec.epochs = 10;
  auto on_cpu = OptimizerRegistry::Create(GetParam().algorithm, reference, spec);
  auto on_emulator = OptimizerRegistry::Create(GetParam().algorithm, emulated, spec);
  ASSERT_TRUE(on_cpu.ok()) << on_cpu.status();
  ASSERT_TRUE(on_emulator.ok()) << on_emulator.status();
  for (int step = 0; step < 24; ++step) {
    for (size_t i = 0; i < reference.size(); ++i) {
      const bool zero = GetParam().zero_tensor && i == 1;
      const at::Tensor grad = zero ? at::zeros(reference[i].sizes())
                                   : at::randn(reference[i].sizes()) * (0.1 / (1 + step));
      // Tensor 2 sits out step 5: from then on its step count differs from the others', so the
      // per-step values differ by tensor (the table path instead of the uniform arguments).
      const bool skip = i == 2 && step == 5;
      reference[i].mutable_grad() = skip ? at::Tensor() : grad;
      emulated[i].mutable_grad() = skip ? at::Tensor() : grad.clone();
    }
    SetFusedCudaPathForCpuTensors(false);
    (*on_cpu)->step();
    SetFusedCudaPathForCpuTensors(true);
    (*on_emulator)->step();
    for (size_t i = 0; i < reference.size(); ++i) {
      ASSERT_TRUE(at::equal(reference[i].detach(), emulated[i].detach())) << "tensor " << i << ", step " << step;
    }
  }
  SetFusedCudaPathForCpuTensors(false);
  const Quantizer* q_cpu = QuantizerOf(**on_cpu);
  const Quantizer* q_emulated = QuantizerOf(**on_emulator);
  ASSERT_EQ(q_cpu == nullptr, q_emulated == nullptr);
  if (q_cpu != nullptr) {
    EXPECT_EQ(q_cpu->trend(), q_emulated->trend());
    EXPECT_EQ(q_cpu->index(), q_emulated->index());
  }
}

// More tensors than the resolve kernel's tile of rows (1024): the bump rule carries its index
// from one tile to the next.
TEST_F(FusedStepEmulatedTest, ResolvesAcrossRowTiles) {
  at::manual_seed(6);
  std::vector<at::Tensor> reference, emulated;
  for (int i = 0; i < 1100; ++i) {
    const at::Tensor p = at::randn({1 + i % 3});
    reference.push_back(p.clone().requires_grad_());
    emulated.push_back(p.clone().requires_grad_());
  }
  OptimizerSpec spec;
  spec.lr = 0.01;
  spec.quant_params = "index_limit=12";
  auto on_cpu = OptimizerRegistry::Create("QtAdamW", reference, spec);
  auto on_emulator = OptimizerRegistry::Create("QtAdamW", emulated, spec);
  ASSERT_TRUE(on_cpu.ok() && on_emulator.ok());
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < reference.size(); ++i) {
      // The second tile's updates are tiny: the index moves there, past the limit.
      const at::Tensor grad = at::randn(reference[i].sizes()) * (i < 1024 ? 1.0 : 1e-12);
      reference[i].mutable_grad() = grad;
      emulated[i].mutable_grad() = grad.clone();
    }
    SetFusedCudaPathForCpuTensors(false);
    (*on_cpu)->step();
    SetFusedCudaPathForCpuTensors(true);
    (*on_emulator)->step();
  }
  SetFusedCudaPathForCpuTensors(false);
  for (size_t i = 0; i < reference.size(); ++i) {
    ASSERT_TRUE(at::equal(reference[i].detach(), emulated[i].detach())) << "tensor " << i;
  }
  EXPECT_EQ(QuantizerOf(**on_cpu)->trend(), QuantizerOf(**on_emulator)->trend());
  EXPECT_EQ(QuantizerOf(**on_cpu)->index(), 13);  // the scenario: a bump in the second tile
}

// The emulator's own contract: a barrier that only part of a block reaches is a bug it reports.
TEST(SimtEmulatorDeathTest, ReportsADivergentBarrier) {
  EXPECT_DEATH(
      {
        qres::simt::Launch(+[](int) {
          if (qres::simt::Block::Current().thread.x < 3) qres::simt::Block::Current().SyncThreads();
        }, 1, 8, 0);
      },
      "__syncthreads\\(\\) reached by 3 of 8 threads");
}

INSTANTIATE_TEST_SUITE_P(
    Algorithms, FusedStepEmulatedTest,
    ::testing::Values(Case{"AdamW", "weight_decay=0.05", ""},
                      Case{"QtAdamW", "weight_decay=0.01", ""},
                      Case{"QtAdam", "weight_decay=0.01", "rounding=floor,index_limit=12"},
                      Case{"QtAdamW", "", "rounding=stochastic,seed=9,scope=per_tensor,index_limit=12"},
                      Case{"QtAdamW", "", "rounding=nearest_even,zero_test=all_zero,qp=-3,index_limit=10"},
                      Case{"QtAdamW", "", "check_first_step=false,qp=60,index_limit=64", true},
                      Case{"QtAdamW", "weight_decay=0.01", "schedule=log,eta=64"},
                      Case{"QtAdam", "", "schedule=log,rounding=stochastic,seed=3"},
                      Case{"QtAdamW", "", "schedule=log,offset=false,rounding=floor"},
                      // The offset decays to exactly 0 within the run: two-pass then one-pass steps.
                      Case{"QtAdamW", "weight_decay=0.01", "schedule=log,kappa=30,warmup=0.1"},
                      Case{"SGD", "momentum=0.9,nesterov=true,weight_decay=0.01", ""},
                      Case{"SGD", "", ""},
                      Case{"QSGD", "", "index_limit=12"},
                      Case{"QSGD", "momentum=0.8,dampening=0.1", "zero_test=all_zero,index_limit=12"},
                      Case{"QSGD", "weight_decay=0.001", "scope=per_tensor,rounding=floor,index_limit=8", true},
                      Case{"QSGD", "", "schedule=log,rounding=nearest_even"}),
    [](const auto& info) { return "case" + std::to_string(info.index) + "_" + info.param.algorithm; });

}  // namespace
}  // namespace qres::optim
