// Every registered optimizer: converges on a small least-squares problem, survives a save/load
// round trip bit-identically (training resumed from the checkpoint continues exactly), and
// rejects bad options with an error that names the value.
#include <sstream>
#include <string>
#include <vector>

#include "ATen/ops/equal.h"
#include "ATen/ops/matmul.h"
#include "ATen/ops/mse_loss.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/zeros.h"
#include "c10/core/GradMode.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/optim/optimizer.h"
#include "torch/serialize.h"

namespace qres::optim {
namespace {

using ::testing::HasSubstr;

// min_w ‖X w − y‖² with a known solution, two parameter tensors (weight and bias).
struct LeastSquares {
  LeastSquares() {
    at::manual_seed(7);
    x = at::randn({64, 5});
    solution = at::randn({5, 1});
    y = at::matmul(x, solution) + 0.25;
  }
  std::vector<at::Tensor> NewParams() const {
    return {at::zeros({5, 1}).requires_grad_(), at::zeros({1}).requires_grad_()};
  }
  at::Tensor Loss(const std::vector<at::Tensor>& p) const { return at::mse_loss(at::matmul(x, p[0]) + p[1], y); }
  at::Tensor x, solution, y;
};

double Train(torch::optim::Optimizer& optimizer, const LeastSquares& problem, const std::vector<at::Tensor>& params,
             int steps) {
  double loss = 0;
  for (int i = 0; i < steps; ++i) {
    optimizer.zero_grad();
    at::Tensor value = problem.Loss(params);
    value.backward();
    optimizer.step();
    loss = value.item<double>();
  }
  return loss;
}

// Learning rates that suit each algorithm on this problem.
OptimizerSpec SpecFor(const std::string& name) {
  OptimizerSpec spec;
  spec.lr = 0.05;
  spec.qp = 2;
  return spec;
}

class OptimizerConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerConformanceTest, Converges) {
  LeastSquares problem;
  std::vector<at::Tensor> params = problem.NewParams();
  auto optimizer = OptimizerRegistry::Create(GetParam(), params, SpecFor(GetParam()));
  ASSERT_TRUE(optimizer.ok()) << optimizer.status();
  const double initial = problem.Loss(params).item<double>();
  const double final_loss = Train(**optimizer, problem, params, 400);
  EXPECT_LT(final_loss, 1e-2 * initial) << "initial loss " << initial;
}

TEST_P(OptimizerConformanceTest, ResumesBitIdenticallyFromCheckpoint) {
  LeastSquares problem;
  // Uninterrupted: 30 steps.
  std::vector<at::Tensor> straight = problem.NewParams();
  auto a = OptimizerRegistry::Create(GetParam(), straight, SpecFor(GetParam()));
  ASSERT_TRUE(a.ok()) << a.status();
  Train(**a, problem, straight, 30);

  // Interrupted: 12 steps, save params and optimizer, restore into fresh objects, 18 more.
  std::vector<at::Tensor> first = problem.NewParams();
  auto b = OptimizerRegistry::Create(GetParam(), first, SpecFor(GetParam()));
  ASSERT_TRUE(b.ok()) << b.status();
  Train(**b, problem, first, 12);
  std::stringstream checkpoint;
  {
    torch::serialize::OutputArchive archive;
    (*b)->save(archive);
    archive.save_to(checkpoint);
  }
  std::vector<at::Tensor> resumed = problem.NewParams();
  {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < resumed.size(); ++i) resumed[i].copy_(first[i]);
  }
  auto c = OptimizerRegistry::Create(GetParam(), resumed, SpecFor(GetParam()));
  ASSERT_TRUE(c.ok()) << c.status();
  {
    torch::serialize::InputArchive archive;
    archive.load_from(checkpoint);
    (*c)->load(archive);
  }
  Train(**c, problem, resumed, 18);

  for (size_t i = 0; i < straight.size(); ++i) {
    EXPECT_TRUE(at::equal(straight[i], resumed[i])) << "parameter " << i;
  }
  const Quantizer* qa = QuantizerOf(**a);
  const Quantizer* qc = QuantizerOf(**c);
  ASSERT_EQ(qa == nullptr, qc == nullptr);
  if (qa != nullptr) {
    EXPECT_EQ(qa->index(), qc->index());
    EXPECT_EQ(qa->trend(), qc->trend());
    EXPECT_EQ(qa->trend().size(), 30u);  // one entry per step, not per tensor
  }
}

TEST_P(OptimizerConformanceTest, RejectsBadOptionsNamingTheValue) {
  std::vector<at::Tensor> params = LeastSquares().NewParams();
  auto create = [&](OptimizerSpec spec) { return OptimizerRegistry::Create(GetParam(), params, spec).status(); };
  OptimizerSpec spec = SpecFor(GetParam());
  spec.lr = -0.1;
  EXPECT_THAT(create(spec).message(), HasSubstr("lr=-0.1"));

  spec = SpecFor(GetParam());
  spec.optim_params = "no_such_option=1";
  EXPECT_THAT(create(spec).message(), HasSubstr("unknown key 'no_such_option'"));

  spec = SpecFor(GetParam());
  spec.optim_params = "weight_decay=-1";
  EXPECT_THAT(create(spec).message(), HasSubstr("weight_decay=-1"));

  spec = SpecFor(GetParam());
  spec.optim_params = "weight_decay=lots";
  EXPECT_THAT(create(spec).message(), HasSubstr("key 'weight_decay' has value 'lots'"));

  const std::string name = GetParam();
  const bool adam = name.find("Adam") != std::string::npos;
  if (adam) {
    spec = SpecFor(name);
    spec.optim_params = "betas=0.9:1.0";
    EXPECT_THAT(create(spec).message(), HasSubstr("beta2=1"));
    spec.optim_params = "betas=-0.1:0.999";
    EXPECT_THAT(create(spec).message(), HasSubstr("beta1=-0.1"));
    spec.optim_params = "eps=-1e-8";
    EXPECT_THAT(create(spec).message(), HasSubstr("eps=-1e-08"));
  }
  if (QuantizerOf(**OptimizerRegistry::Create(name, params, SpecFor(name))) != nullptr) {
    spec = SpecFor(name);
    spec.qp = 99;
    EXPECT_THAT(create(spec).message(), HasSubstr("qp=99 is out of range"));
    spec = SpecFor(name);
    spec.quant_params = "schedule=cubic";
    EXPECT_THAT(create(spec).message(), HasSubstr("key 'schedule' has value 'cubic'"));
    spec.quant_params = "rounding=up";
    EXPECT_THAT(create(spec).message(), HasSubstr("key 'rounding' has value 'up'"));
    spec.quant_params = "schedule=log";  // no batches_per_epoch
    EXPECT_THAT(create(spec).message(), HasSubstr("batches_per_epoch"));
    spec.quant_params = "bogus=1";
    EXPECT_THAT(create(spec).message(), HasSubstr("--quant_params: unknown key 'bogus'"));
  } else {
    spec = SpecFor(name);
    spec.quant_params = "schedule=bump";
    EXPECT_THAT(create(spec).message(), HasSubstr("does not quantize"));
  }
}

INSTANTIATE_TEST_SUITE_P(EveryRegisteredOptimizer, OptimizerConformanceTest,
                         ::testing::ValuesIn(OptimizerRegistry::Names()), [](const auto& info) { return info.param; });

TEST(OptimizerRegistryTest, UnknownAlgorithmListsTheValidOnes) {
  std::vector<at::Tensor> params = LeastSquares().NewParams();
  auto status = OptimizerRegistry::Create("Lion", params, OptimizerSpec()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("unknown algorithm 'Lion'"));
  EXPECT_THAT(status.message(), HasSubstr("QtAdamW"));
}

}  // namespace
}  // namespace qres::optim
