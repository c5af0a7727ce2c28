// The fused CUDA step's kernels and host code, run on the CPU by the SIMT emulator, against the
// CPU optimizers on the same gradients: bit-identical parameters and index trends. This is the
// GPU path minus the GPU (the kernel code is kernels.cu's, compiled for the host), so it runs
// everywhere, CI included; optimizer_cuda_test checks the same on a real GPU.
#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "ATen/TensorOperators.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/randn.h"
#include "gtest/gtest.h"
#include "qres/optim/cuda/emulator_backend.h"
#include "qres/optim/cuda/fused_step_cases.h"
#include "qres/optim/cuda/simt_emulator.h"
#include "qres/optim/cuda_stepper.h"
#include "qres/optim/optimizer.h"
#include "torch/serialize/input-archive.h"
#include "torch/serialize/output-archive.h"

namespace qres::optim {
namespace {

class FusedStepEmulatedTest : public ::testing::TestWithParam<FusedStepCase> {
 protected:
  static void SetUpTestSuite() {
    RegisterCudaStepper(
        []() -> std::unique_ptr<CudaStepper> { return std::make_unique<KernelStepper>(MakeEmulatedBackend()); });
  }
  void TearDown() override { SetFusedCudaPathForCpuTensors(false); }

  // The other optimizer's step, on the emulator.
  static void EmulatedStep(torch::optim::Optimizer& optimizer) {
    SetFusedCudaPathForCpuTensors(true);
    optimizer.step();
    SetFusedCudaPathForCpuTensors(false);
  }
};

TEST_P(FusedStepEmulatedTest, EqualsTheCpuOptimizerBitForBit) {
  // Sizes around the 2048-element chunks (one block each) and an empty tensor.
  ExpectSameTrajectory(
      GetParam(), {7, 4097, 1, 0, 2048, 300}, 24, [](const at::Tensor& t) { return t.clone(); }, &EmulatedStep);
}

// Graph mode (cuda_stepper.h): every value that changes from step to step goes through device
// memory, so the launch's arguments (its key) stay the same and a CUDA graph that captured one
// step's launch replays the later ones: the key changes only where the tensors do (tensor 2 sits
// out step 5, and is back at step 6) or the step's kernels do (the log schedule's offset decays to
// 0: one pass from then on), not at each step, nor after the host read the quantizer's state back
// (step 12). Launched from the pending launch, each step still equals the CPU optimizer's.
TEST_P(FusedStepEmulatedTest, GraphModeKeepsOneLaunchForEveryStep) {
  int step = 0, captures = 0;
  std::string captured;
  ExpectSameTrajectory(
      GetParam(), {7, 4097, 1, 0, 2048, 300}, 24, [](const at::Tensor& t) { return t.clone(); },
      [&](torch::optim::Optimizer& optimizer) {
        auto& graphed = dynamic_cast<QresOptimizer&>(optimizer);
        SetFusedCudaPathForCpuTensors(true);
        ASSERT_TRUE(graphed.SetGraphMode(true));
        optimizer.step();
        const std::string key = graphed.PendingStepKey();
        ASSERT_FALSE(key.empty());
        if (key != captured) {
          captured = key;
          ++captures;
        }
        graphed.LaunchPendingStep();
        if (step++ == 12) QuantizerOf(optimizer);  // the state back to the host
        SetFusedCudaPathForCpuTensors(false);
      });
  const bool offset_decays = GetParam().quant_params.find("kappa=30") != std::string::npos;
  EXPECT_EQ(captures, offset_decays ? 4 : 3);
}

// The log schedule's offset norm of longer tensors: 20 chunks (one resolving thread sums them,
// eight loads at a time), 35 (more than kLongRow = 32: the whole block loads them) and 259 (more
// than the block loads at once, 256), each summed in the CPU's order.
TEST_F(FusedStepEmulatedTest, SumsLongRowsNormsInOrder) {
  int log_cases = 0;
  for (const FusedStepCase& c : FusedStepCases()) {
    if (c.quant_params.find("schedule=log") == std::string::npos ||
        c.quant_params.find("offset=false") != std::string::npos) {
      continue;  // only the log schedule's offset sums norms
    }
    SCOPED_TRACE(c.algorithm + " " + c.quant_params);
    ExpectSameTrajectory(
        c, {70000, 5, 40000, 530000}, 3, [](const at::Tensor& t) { return t.clone(); }, &EmulatedStep);
    ++log_cases;
  }
  EXPECT_GE(log_cases, 4);
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

// A bump past the direction kernel's window of candidates: the resolving block sums the update
// for each further candidate, and the one element that becomes nonzero (at 900, the fourth of a
// thread's four loads in flight) must be seen.
TEST_F(FusedStepEmulatedTest, BumpsPastTheWindowSeeEveryElement) {
  OptimizerSpec spec;
  spec.lr = 1.0;
  spec.quant_params = "qp=0,index_limit=30,check_first_step=true";
  at::Tensor reference = at::zeros({3000}).requires_grad_(), emulated = at::zeros({3000}).requires_grad_();
  at::Tensor grad = at::zeros({3000});
  grad[900] = std::ldexp(1.0, -10);  // rounds to nonzero from index 10 on
  reference.mutable_grad() = grad;
  emulated.mutable_grad() = grad.clone();
  auto on_cpu = OptimizerRegistry::Create("QSGD", {reference}, spec);
  auto on_emulator = OptimizerRegistry::Create("QSGD", {emulated}, spec);
  ASSERT_TRUE(on_cpu.ok() && on_emulator.ok());
  (*on_cpu)->step();
  EmulatedStep(**on_emulator);
  EXPECT_EQ(QuantizerOf(**on_cpu)->index(), 10);
  EXPECT_EQ(QuantizerOf(**on_emulator)->index(), 10);
  EXPECT_TRUE(at::equal(reference.detach(), emulated.detach()));
}

// The device keeps the bump index between steps: a checkpoint written then, and host steps after
// device steps, continue from the device's state exactly.
TEST_F(FusedStepEmulatedTest, DeviceStateReachesCheckpointsAndHostSteps) {
  at::manual_seed(7);
  const at::Tensor start = at::randn({300});
  std::vector<at::Tensor> grads;
  for (int step = 0; step < 8; ++step) grads.push_back(at::randn({300}) * (step < 4 ? 1.0 : 1e-3));
  OptimizerSpec spec;
  spec.lr = 0.01;
  auto run = [&](at::Tensor& param, torch::optim::Optimizer& optimizer, int from, int to, bool alternate) {
    for (int step = from; step < to; ++step) {
      param.mutable_grad() = grads[step].clone();
      SetFusedCudaPathForCpuTensors(alternate && step % 2 == 0);
      optimizer.step();
      SetFusedCudaPathForCpuTensors(false);
    }
  };
  at::Tensor host = start.clone().requires_grad_(), mixed = start.clone().requires_grad_();
  auto on_cpu = OptimizerRegistry::Create("QtAdamW", {host}, spec);
  auto alternating = OptimizerRegistry::Create("QtAdamW", {mixed}, spec);
  ASSERT_TRUE(on_cpu.ok() && alternating.ok());
  run(host, **on_cpu, 0, 8, false);
  run(mixed, **alternating, 0, 5, true);  // the last of these on the device

  torch::serialize::OutputArchive saved;
  (*alternating)->save(saved);  // reads the device's index: the host's is a step behind
  std::ostringstream bytes;
  saved.save_to(bytes);
  at::Tensor resumed = mixed.detach().clone().requires_grad_();
  auto from_checkpoint = OptimizerRegistry::Create("QtAdamW", {resumed}, spec);
  ASSERT_TRUE(from_checkpoint.ok());
  std::istringstream read_back(bytes.str());
  torch::serialize::InputArchive loaded;
  loaded.load_from(read_back);
  (*from_checkpoint)->load(loaded);

  run(mixed, **alternating, 5, 8, true);
  run(resumed, **from_checkpoint, 5, 8, false);
  EXPECT_TRUE(at::equal(host.detach(), mixed.detach()));
  EXPECT_TRUE(at::equal(host.detach(), resumed.detach()));
  EXPECT_EQ(QuantizerOf(**on_cpu)->trend(), QuantizerOf(**alternating)->trend());
  EXPECT_EQ(QuantizerOf(**on_cpu)->trend(), QuantizerOf(**from_checkpoint)->trend());
  EXPECT_GT(QuantizerOf(**on_cpu)->index(), QuantizerOf(**on_cpu)->trend().front());  // it bumped late
}

// Parameter groups with their own lr and decay, changed every step: with up to kStepVariants
// distinct values they travel in the launch's arguments and the table is uploaded once; with more,
// each row carries its own and the table is uploaded every step. Bit-exact either way.
TEST_F(FusedStepEmulatedTest, PerGroupValuesTravelInTheLaunch) {
  for (const int groups : {3, 10}) {
    SCOPED_TRACE(std::to_string(groups) + " groups");
    at::manual_seed(8);
    std::vector<at::Tensor> reference, emulated;
    for (int i = 0; i < 2 * groups; ++i) {
      const at::Tensor p = at::randn({300});
      reference.push_back(p.clone().requires_grad_());
      emulated.push_back(p.clone().requires_grad_());
    }
    OptimizerSpec spec;
    spec.lr = 0.01;
    spec.optim_params = "weight_decay=0.01";
    auto grouped = [&](std::vector<at::Tensor>& params) {
      auto optimizer = OptimizerRegistry::Create("QtAdamW", {params[0], params[1]}, spec);
      EXPECT_TRUE(optimizer.ok()) << optimizer.status();
      for (int g = 1; g < groups; ++g) {
        (*optimizer)
            ->add_param_group(torch::optim::OptimizerParamGroup({params[2 * g], params[2 * g + 1]},
                                                                (*optimizer)->param_groups()[0].options().clone()));
      }
      return std::move(*optimizer);
    };
    auto on_cpu = grouped(reference);
    auto on_emulator = grouped(emulated);
    const int64_t uploads_before = EmulatedRowUploads();
    for (int step = 0; step < 6; ++step) {
      for (auto* optimizer : {on_cpu.get(), on_emulator.get()}) {
        for (size_t g = 0; g < optimizer->param_groups().size(); ++g) {
          optimizer->param_groups()[g].options().set_lr(0.01 * (1.0 + g) * std::pow(0.9, step));
        }
      }
      for (size_t i = 0; i < reference.size(); ++i) {  // the same gradient tensors every step, as in training
        const at::Tensor grad = at::randn({300}) * (0.1 / (1 + step));
        if (step == 0) {
          reference[i].mutable_grad() = grad;
          emulated[i].mutable_grad() = grad.clone();
        } else {
          reference[i].mutable_grad().copy_(grad);
          emulated[i].mutable_grad().copy_(grad);
        }
      }
      on_cpu->step();
      EmulatedStep(*on_emulator);
      for (size_t i = 0; i < reference.size(); ++i) {
        ASSERT_TRUE(at::equal(reference[i].detach(), emulated[i].detach())) << "tensor " << i << ", step " << step;
      }
    }
    EXPECT_EQ(QuantizerOf(*on_cpu)->trend(), QuantizerOf(*on_emulator)->trend());
    EXPECT_EQ(EmulatedRowUploads() - uploads_before, groups <= cuda::kStepVariants ? 1 : 6);
  }
}

// The emulator's own contract: a barrier that only part of a block reaches is a bug it reports.
TEST(SimtEmulatorDeathTest, ReportsADivergentBarrier) {
  EXPECT_DEATH(
      {
        qres::simt::Launch(
            +[](int) {
              if (qres::simt::Block::Current().thread.x < 3) qres::simt::Block::Current().SyncThreads();
            },
            1, 8, 0);
      },
      "__syncthreads\\(\\) reached by 3 of 8 threads");
}

INSTANTIATE_TEST_SUITE_P(Cases, FusedStepEmulatedTest, ::testing::ValuesIn(FusedStepCases()), FusedStepCaseName);

}  // namespace
}  // namespace qres::optim
