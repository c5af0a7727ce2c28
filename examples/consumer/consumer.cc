// Uses qres from another Bazel workspace: registers its own optimizer through the public macro,
// then fits a small model with qres's QtAdamW and with its own optimizer. Exits non-zero if either
// fails to learn.
#include <cmath>
#include <iostream>
#include <memory>
#include <vector>

#include "ATen/ops/_foreach_add.h"
#include "ATen/ops/_foreach_sign.h"
#include "ATen/ops/matmul.h"
#include "ATen/ops/mse_loss.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/zeros.h"
#include "c10/core/GradMode.h"
#include "qres/optim/optimizer.h"

namespace consumer {

// signSGD: w <- w - lr * sign(g). A minimal torch::optim::Optimizer of this project's own.
struct SignSgdOptions : torch::optim::OptimizerCloneableOptions<SignSgdOptions> {
  explicit SignSgdOptions(double lr) : lr(lr) {}
  double lr;
  double get_lr() const override { return lr; }
  void set_lr(const double value) override { lr = value; }
};

class SignSgd : public torch::optim::Optimizer {
 public:
  SignSgd(std::vector<at::Tensor> params, double lr)
      : Optimizer({torch::optim::OptimizerParamGroup(std::move(params))}, std::make_unique<SignSgdOptions>(lr)) {}
  at::Tensor step(LossClosure closure = nullptr) override {
    at::NoGradGuard no_grad;
    for (auto& group : param_groups()) {
      std::vector<at::Tensor> params, grads;
      for (const at::Tensor& p : group.params()) {
        if (p.grad().defined()) {
          params.push_back(p);
          grads.push_back(p.grad());
        }
      }
      at::_foreach_add_(params, at::_foreach_sign(grads), -group.options().get_lr());
    }
    return {};
  }
};

QRES_REGISTER_OPTIMIZER("SignSGD", "signSGD, registered by examples/consumer",
                        [](std::vector<at::Tensor> params, const qres::optim::OptimizerSpec& spec)
                            -> absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> {
                          return std::make_unique<SignSgd>(std::move(params), spec.lr);
                        });

// Fits y = X w* with `algorithm`; returns the final loss divided by the initial one.
double Fit(const std::string& algorithm, double lr) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({256, 8});
  const at::Tensor y = at::matmul(x, at::randn({8, 1}));
  at::Tensor w = at::zeros({8, 1}).requires_grad_();
  qres::optim::OptimizerSpec spec;
  spec.lr = lr;
  auto optimizer = qres::optim::OptimizerRegistry::Create(algorithm, {w}, spec);
  if (!optimizer.ok()) {
    std::cerr << optimizer.status().message() << "\n";
    std::exit(1);
  }
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    (*optimizer)->zero_grad();
    at::Tensor loss = at::mse_loss(at::matmul(x, w), y);
    loss.backward();
    (*optimizer)->step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  const qres::optim::Quantizer* quantizer = qres::optim::QuantizerOf(**optimizer);
  std::cout << algorithm << ": loss " << first << " -> " << last;
  if (quantizer != nullptr) std::cout << ", QP index " << quantizer->index();
  std::cout << "\n";
  return last / first;
}

}  // namespace consumer

int main() {
  std::cout << "algorithms:";
  for (const std::string& name : qres::optim::OptimizerRegistry::Names()) std::cout << " " << name;
  std::cout << "\n";
  const double qtadamw = consumer::Fit("QtAdamW", 0.05);
  const double own = consumer::Fit("SignSGD", 0.01);
  if (!(qtadamw < 1e-2) || !(own < 0.2)) {
    std::cerr << "consumer: an optimizer did not learn\n";
    return 1;
  }
  std::cout << "consumer: OK\n";
  return 0;
}
