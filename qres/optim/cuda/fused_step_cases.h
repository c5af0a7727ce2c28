// The configurations the fused step is checked in, and the check: the same optimizer on CPU
// parameters (the CPU loops) and on "other" parameters (a GPU's, or the SIMT emulator's) takes the
// same gradients and must end with bit-identical parameters and index trends. Shared by
// fused_step_emulated_test (CPU, CI) and optimizer_cuda_test (GPU).
#ifndef QRES_OPTIM_CUDA_FUSED_STEP_CASES_H_
#define QRES_OPTIM_CUDA_FUSED_STEP_CASES_H_

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "ATen/TensorOperators.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/isnan.h"
#include "ATen/ops/nan_to_num.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/zeros.h"
#include "gtest/gtest.h"
#include "qres/optim/optimizer.h"

namespace qres::optim {

struct FusedStepCase {
  std::string algorithm, optim_params, quant_params;
  bool zero_tensor = false;  // tensor 1's gradient is always zero (the bump rule's worst case)
  // Elements 0 and 1 of tensor 1's gradient are NaN (one bad batch; with zero_tensor, the rest is
  // 0): they take no part in the bump test or the log norm (algorithm.md Q3), so with zero_tensor
  // the tensor's update is a zero update, and without it the rest of the tensor decides.
  bool nan_gradient = false;
};

// Every rule, schedule, rounding, zero test and scope; index_limit is small where the limit does
// not matter (the emulator pays for every candidate the rule visits).
inline std::vector<FusedStepCase> FusedStepCases() {
  return {
      {"AdamW", "weight_decay=0.05", ""},
      {"QtAdamW", "weight_decay=0.01", ""},
      {"QtAdam", "weight_decay=0.01", "rounding=floor,index_limit=12"},
      {"QtAdamW", "", "rounding=stochastic,seed=9,scope=per_tensor,index_limit=12"},
      {"QtAdamW", "", "rounding=nearest_even,zero_test=all_zero,qp=-3,index_limit=10"},
      {"QtAdamW", "", "check_first_step=false,qp=60,index_limit=64,bump_on_zero_update=true", true},
      // The zero tensor bumps nothing (the others do), by the nonzero-update counts.
      {"QtAdamW", "", "index_limit=12", true},
      {"QSGD", "", "scope=per_tensor,check_first_step=true,index_limit=12", true},
      {"QtAdamW", "", "index_limit=12", true, true},
      {"QSGD", "", "scope=per_tensor,index_limit=12", true, true},
      {"QtAdamW", "", "index_limit=12", false, true},
      {"QtAdamW", "", "schedule=log,eta=64", false, true},
      {"QtAdamW", "weight_decay=0.01", "schedule=log,eta=64"},
      {"QtAdam", "", "schedule=log,rounding=stochastic,seed=3"},
      {"QtAdamW", "", "schedule=log,offset=false,rounding=floor"},
      // The offset decays to exactly 0 within the run: two-pass, then one-pass steps.
      {"QtAdamW", "weight_decay=0.01", "schedule=log,kappa=30,warmup=0.1"},
      {"SGD", "momentum=0.9,nesterov=true,weight_decay=0.01", ""},
      {"SGD", "", ""},
      {"QSGD", "", "index_limit=12"},
      {"QSGD", "momentum=0.8,dampening=0.1", "zero_test=all_zero,index_limit=12"},
      {"QSGD", "weight_decay=0.001", "scope=per_tensor,rounding=floor,index_limit=8", true},
      {"QSGD", "", "schedule=log,rounding=nearest_even"},
  };
}

inline std::string FusedStepCaseName(const ::testing::TestParamInfo<FusedStepCase>& info) {
  return "case" + std::to_string(info.index) + "_" + info.param.algorithm;
}

// Equal, with NaN equal to NaN (devices write different NaN bits).
inline bool SameValues(const at::Tensor& a, const at::Tensor& b) {
  if (at::equal(a, b)) return true;  // the common case, in one pass (false whenever NaN is there)
  return at::equal(at::isnan(a), at::isnan(b)) && at::equal(at::nan_to_num(a, 0.0), at::nan_to_num(b, 0.0));
}

// The optimizer of case `c`; the log schedule's clock is short enough for Q_p to step up within
// a test's run.
inline OptimizerSpec SpecOf(const FusedStepCase& c) {
  OptimizerSpec spec;
  spec.lr = 0.01;
  spec.optim_params = c.optim_params;
  spec.quant_params = c.quant_params;
  spec.batches_per_epoch = 3;
  spec.epochs = 10;
  return spec;
}

// Parameters of `sizes` on the CPU and, through `place`, elsewhere; `steps` steps of the case
// with the same random gradients (tensor 2 sits out step 5, so its step count then differs from
// the others': per-tensor step values). `step_other` runs the other optimizer's step.
inline void ExpectSameTrajectory(const FusedStepCase& c, const std::vector<int64_t>& sizes, int steps,
                                 const std::function<at::Tensor(const at::Tensor&)>& place,
                                 const std::function<void(torch::optim::Optimizer&)>& step_other) {
  at::manual_seed(5);
  std::vector<at::Tensor> cpu, other;
  for (int64_t numel : sizes) {
    const at::Tensor p = at::randn({numel});
    cpu.push_back(p.clone().requires_grad_());
    other.push_back(place(p).requires_grad_());
  }
  const OptimizerSpec spec = SpecOf(c);
  auto on_cpu = OptimizerRegistry::Create(c.algorithm, cpu, spec);
  auto on_other = OptimizerRegistry::Create(c.algorithm, other, spec);
  ASSERT_TRUE(on_cpu.ok()) << on_cpu.status();
  ASSERT_TRUE(on_other.ok()) << on_other.status();
  for (int step = 0; step < steps; ++step) {
    for (size_t i = 0; i < cpu.size(); ++i) {
      const bool zero = c.zero_tensor && i == 1;
      at::Tensor grad = zero ? at::zeros(cpu[i].sizes()) : at::randn(cpu[i].sizes()) * (0.1 / (1 + step));
      if (c.nan_gradient && i == 1) grad.slice(0, 0, 2).fill_(NAN);
      const bool skip = i == 2 && step == 5;
      cpu[i].mutable_grad() = skip ? at::Tensor() : grad;
      other[i].mutable_grad() = skip ? at::Tensor() : place(grad);
    }
    (*on_cpu)->step();
    step_other(**on_other);
    for (size_t i = 0; i < cpu.size(); ++i) {
      ASSERT_TRUE(SameValues(cpu[i].detach(), other[i].detach().cpu())) << "tensor " << i << ", step " << step;
    }
  }
  const Quantizer* q_cpu = QuantizerOf(**on_cpu);
  const Quantizer* q_other = QuantizerOf(**on_other);
  ASSERT_EQ(q_cpu == nullptr, q_other == nullptr);
  if (q_cpu != nullptr) {
    EXPECT_EQ(q_cpu->trend(), q_other->trend());
    EXPECT_EQ(q_cpu->index(), q_other->index());
    if (q_cpu->options().schedule == QuantSchedule::kBump) {
      for (size_t i = 0; i < sizes.size(); ++i) {
        EXPECT_EQ(q_cpu->tensor_index(i), q_other->tensor_index(i)) << "tensor " << i;
      }
      EXPECT_GT(q_cpu->index(), q_cpu->options().initial_index);  // the run must have bumped
    }
  }
}

}  // namespace qres::optim

#endif  // QRES_OPTIM_CUDA_FUSED_STEP_CASES_H_
