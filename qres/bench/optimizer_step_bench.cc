// One optimizer step on the CPU for the ResNet-32 parameter set (464,154 parameters in the
// reference model's 95 tensors) for every registered optimizer, beside PyTorch's own fused and
// foreach AdamW and a reference-style per-tensor QtAdamW loop, all in this process.
//
//   bazel run -c opt //qres/bench:optimizer_step_bench [-- --steps=200 --threads=0]
//
// Prints ms/step and the ratio to PyTorch's at::_fused_adamw_.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "ATen/Parallel.h"
#include "ATen/ops/_foreach_add.h"
#include "ATen/ops/_foreach_addcdiv.h"
#include "ATen/ops/_foreach_addcmul.h"
#include "ATen/ops/_foreach_div.h"
#include "ATen/ops/_foreach_lerp.h"
#include "ATen/ops/_foreach_mul.h"
#include "ATen/ops/_foreach_sqrt.h"
#include "ATen/ops/_fused_adamw.h"
#include "ATen/ops/floor.h"
#include "ATen/ops/randn_like.h"
#include "ATen/ops/sum.h"
#include "ATen/ops/zeros.h"
#include "ATen/ops/zeros_like.h"
#include "absl/strings/str_format.h"
#include "qres/base/allocator.h"
#include "c10/core/GradMode.h"
#include "gflags/gflags.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"

DEFINE_int32(rounds, 15, "rounds; each times --steps steps of every optimizer in turn");
DEFINE_int32(steps, 20, "steps per optimizer per round");
DEFINE_int32(threads, 0, "LibTorch CPU threads; 0: its default");
DEFINE_int32(resnet_layers, 5, "ResNet n (5: ResNet-32)");
DEFINE_string(only, "", "time only the candidates whose name contains this");

namespace {

using Clock = std::chrono::steady_clock;

std::vector<at::Tensor> ResNetParameters() {
  qres::models::ModelSpec spec;
  spec.channels = 3;
  spec.height = spec.width = 32;
  spec.classes = 10;
  spec.resnet_layers = FLAGS_resnet_layers;
  auto net = qres::models::CreateModel("ResNet", spec);
  if (!net.ok()) {
    std::cerr << net.status().message() << "\n";
    std::exit(1);
  }
  std::vector<at::Tensor> params;
  for (const at::Tensor& p : (*net)->parameters()) {
    at::Tensor copy = p.detach().clone().requires_grad_();
    copy.mutable_grad() = at::randn_like(p) * 1e-3;
    params.push_back(copy);
  }
  return params;
}

// Each candidate runs FLAGS_steps steps per round, the candidates in turn, for FLAGS_rounds
// rounds; a candidate's time is its best round. Interleaving and the minimum make the figures
// robust to the load of a shared machine, which hits all candidates alike.
std::vector<double> TimeInRounds(const std::vector<std::function<void()>>& steps) {
  for (const auto& step : steps) {
    for (int i = 0; i < 5; ++i) step();  // warm-up: state allocation, caches
  }
  std::vector<double> best(steps.size(), 1e30);
  for (int round = 0; round < FLAGS_rounds; ++round) {
    for (size_t c = 0; c < steps.size(); ++c) {
      const auto start = Clock::now();
      for (int i = 0; i < FLAGS_steps; ++i) steps[c]();
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      best[c] = std::min(best[c], ms / FLAGS_steps);
    }
  }
  return best;
}

struct AdamState {
  explicit AdamState(const std::vector<at::Tensor>& params) {
    for (const at::Tensor& p : params) {
      grads.push_back(p.grad());
      m.push_back(at::zeros_like(p));
      v.push_back(at::zeros_like(p));
      steps.push_back(at::zeros({}, at::kFloat));
    }
  }
  std::vector<at::Tensor> grads, m, v, steps;
};

}  // namespace

int main(int argc, char** argv) {
  qres::KeepFreedMemoryForReuse();  // as the train tool does
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (FLAGS_threads > 0) at::set_num_threads(FLAGS_threads);
  at::manual_seed(0);
  std::vector<at::Tensor> params = ResNetParameters();
  int64_t count = 0;
  for (const at::Tensor& p : params) count += p.numel();
  std::cout << absl::StrFormat("ResNet-%d parameter set: %d parameters in %d tensors, %d threads; "
                               "best of %d rounds of %d steps\n\n",
                               6 * FLAGS_resnet_layers + 2, count, params.size(),
                               at::get_num_threads(), FLAGS_rounds, FLAGS_steps);
  at::NoGradGuard no_grad;
  const double lr = 1e-3;

  std::vector<std::string> names;
  std::vector<std::function<void()>> steps;
  // Candidates keep their state alive until the timing is done.
  std::vector<std::shared_ptr<void>> keep;

  {  // PyTorch's fused AdamW kernel.
    auto s = std::make_shared<AdamState>(params);
    keep.push_back(s);
    names.push_back("PyTorch at::_fused_adamw_");
    steps.push_back([s, params, lr] {
      at::_fused_adamw_(params, s->grads, s->m, s->v, {}, s->steps, lr, 0.9, 0.999, 0.0, 1e-8,
                        false, false);
    });
  }
  {  // torch.optim.AdamW(foreach=True)'s sequence of foreach ops.
    auto s = std::make_shared<AdamState>(params);
    keep.push_back(s);
    names.push_back("PyTorch foreach AdamW");
    steps.push_back([s, params, lr, t = int64_t{0}]() mutable {
      ++t;
      at::_foreach_lerp_(s->m, s->grads, 0.1);
      at::_foreach_mul_(s->v, 0.999);
      at::_foreach_addcmul_(s->v, s->grads, s->grads, 0.001);
      const double bias1 = 1 - std::pow(0.9, t), bias2 = 1 - std::pow(0.999, t);
      auto denom = at::_foreach_sqrt(s->v);
      at::_foreach_div_(denom, std::sqrt(bias2));
      at::_foreach_add_(denom, 1e-8);
      at::_foreach_addcdiv_(params, s->m, denom, -lr / bias1);
    });
  }
  {  // The reference's QtAdamW: one tensor at a time, a host-side zero check per tensor.
    auto s = std::make_shared<AdamState>(params);
    keep.push_back(s);
    names.push_back("reference-style QtAdamW loop");
    steps.push_back([s, params, lr, t = int64_t{0}, n = int64_t{0}]() mutable {
      ++t;
      for (size_t i = 0; i < params.size(); ++i) {
        s->m[i].mul_(0.9).add_(s->grads[i], 0.1);
        s->v[i].mul_(0.999).addcmul_(s->grads[i], s->grads[i], 0.001);
        at::Tensor denom = s->v[i].sqrt().add_(1e-6);
        const double step = lr * std::sqrt(1 - std::pow(0.999, t)) / (1 - std::pow(0.9, t));
        at::Tensor h = (s->m[i] / denom) * (-step);
        double qp = std::ldexp(1.0, static_cast<int>(std::max<int64_t>(n, 0)));
        at::Tensor hq = at::floor(h * qp + 0.5) / qp;
        while (at::sum(hq).item<float>() == 0.0f && n <= 32) {
          ++n;
          qp = std::ldexp(1.0, static_cast<int>(n));
          hq = at::floor(h * qp + 0.5) / qp;
        }
        params[i].add_(hq);
      }
    });
  }
  for (const std::string& name : qres::optim::OptimizerRegistry::Names()) {
    std::vector<at::Tensor> copies;
    for (const at::Tensor& p : params) {
      at::Tensor c = p.detach().clone().requires_grad_();
      c.mutable_grad() = p.grad().clone();
      copies.push_back(c);
    }
    qres::optim::OptimizerSpec spec;
    spec.lr = lr;
    auto optimizer = qres::optim::OptimizerRegistry::Create(name, copies, spec);
    if (!optimizer.ok()) {
      std::cerr << optimizer.status().message() << "\n";
      return 1;
    }
    std::shared_ptr<torch::optim::Optimizer> shared = std::move(*optimizer);
    keep.push_back(shared);
    names.push_back("qres " + name);
    steps.push_back([shared] { shared->step(); });
  }

  if (!FLAGS_only.empty()) {
    for (size_t i = names.size(); i-- > 0;) {
      if (names[i].find(FLAGS_only) == std::string::npos) {
        names.erase(names.begin() + i);
        steps.erase(steps.begin() + i);
      }
    }
  }
  const std::vector<double> ms = TimeInRounds(steps);
  std::cout << absl::StrFormat("| %-30s | %9s | %22s |\n", "optimizer step", "ms/step", "x PyTorch fused AdamW");
  std::cout << "|--------------------------------|-----------|------------------------|\n";
  for (size_t i = 0; i < names.size(); ++i) {
    std::cout << absl::StrFormat("| %-30s | %9.3f | %22.2f |\n", names[i], ms[i], ms[i] / ms[0]);
  }
  return 0;
}
