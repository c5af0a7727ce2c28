// One optimizer step for every registered optimizer, beside PyTorch's own fused AdamW, fused SGD
// and foreach AdamW and a reference-style per-tensor QtAdamW loop, all in this process, on a
// parameter set:
//   resnet32  the reference ResNet-32 (464,154 parameters in 95 tensors), the default
//   resnet50  ImageNet ResNet-50's shapes (25,557,032 parameters in 161 tensors)
//   134m      8 tensors of 2^24 parameters (134 M)
//
//   bazel run -c opt //qres/bench:optimizer_step_bench [-- --set=resnet50 --device=cuda]
//
// Prints ms/step, the ratio to PyTorch's at::_fused_adamw_, and the bandwidth reached (AdamW moves
// 28 bytes per parameter) as a share of a device-to-device copy measured in the same run. The
// bandwidth columns count 28 bytes per parameter for every row (an effective figure: qres's
// quantized steps move 36, the update buffer's write and read).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ATen/Context.h"
#include "ATen/Parallel.h"
#include "ATen/TensorOperators.h"
#include "ATen/detail/CUDAHooksInterface.h"
#include "ATen/ops/_foreach_add.h"
#include "ATen/ops/_foreach_addcdiv.h"
#include "ATen/ops/_foreach_addcmul.h"
#include "ATen/ops/_foreach_div.h"
#include "ATen/ops/_foreach_lerp.h"
#include "ATen/ops/_foreach_mul.h"
#include "ATen/ops/_foreach_sqrt.h"
#include "ATen/ops/_fused_adamw.h"
#include "ATen/ops/_fused_sgd.h"
#include "ATen/ops/empty.h"
#include "ATen/ops/empty_like.h"
#include "ATen/ops/floor.h"
#include "ATen/ops/sum.h"
#include "ATen/ops/zeros.h"
#include "ATen/ops/zeros_like.h"
#include "absl/strings/str_format.h"
#include "c10/core/GradMode.h"
#include "gflags/gflags.h"
#include "qres/base/allocator.h"
#include "qres/bench/bench_flags.h"
#include "qres/bench/parameter_sets.h"
#include "qres/optim/optimizer.h"

DEFINE_int32(rounds, 15, "rounds; each times --steps steps of every optimizer in turn");
DEFINE_int32(steps, 20, "steps per optimizer per round");
DEFINE_int32(threads, 0, "LibTorch CPU threads; 0: its default");
DEFINE_int32(resnet_layers, 5, "ResNet n for --set=resnet32 (5: ResNet-32)");
DEFINE_string(set, "resnet32", "parameter set: resnet32, resnet50 or 134m");
DEFINE_string(device, "cpu", "cpu or cuda");
DEFINE_string(only, "", "time only the candidates whose name contains this");

namespace {

using Clock = std::chrono::steady_clock;

// Each candidate runs FLAGS_steps steps per round, the candidates in turn, for FLAGS_rounds
// rounds; a candidate's time is its best round. Interleaving and the minimum make the figures
// robust to the load of a shared machine, which hits all candidates alike. `wait_for_device`
// waits for the device (a GPU runs the steps asynchronously): a round ends when its work is done.
std::vector<double> TimeInRounds(const std::vector<std::function<void()>>& steps,
                                 const std::function<void()>& wait_for_device) {
  for (const auto& step : steps) {
    for (int i = 0; i < 5; ++i) step();  // warm-up: state allocation, caches
  }
  wait_for_device();
  std::vector<double> best(steps.size(), 1e30);
  for (int round = 0; round < FLAGS_rounds; ++round) {
    for (size_t c = 0; c < steps.size(); ++c) {
      const auto start = Clock::now();
      for (int i = 0; i < FLAGS_steps; ++i) steps[c]();
      wait_for_device();
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
      steps.push_back(at::zeros({}, at::TensorOptions().dtype(at::kFloat).device(p.device())));
    }
  }
  std::vector<at::Tensor> grads, m, v, steps;
};

}  // namespace

int main(int argc, char** argv) {
  qres::KeepFreedMemoryForReuse();  // as the train tool does
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (!qres::bench::AllAtLeastOne(
          "optimizer_step_bench",
          {{"rounds", FLAGS_rounds}, {"steps", FLAGS_steps}, {"resnet_layers", FLAGS_resnet_layers}})) {
    return 1;
  }
  if (FLAGS_threads > 0) at::set_num_threads(FLAGS_threads);
  at::manual_seed(0);
  if (FLAGS_device != "cpu" && FLAGS_device != "cuda") {
    std::cerr << "optimizer_step_bench: --device=" << FLAGS_device << ": use cpu or cuda\n";
    return 1;
  }
  if (FLAGS_device == "cuda" && !at::hasCUDA()) {
    std::cerr << "optimizer_step_bench: --device=cuda but no CUDA GPU is available\n";
    return 1;
  }
  const c10::Device device(FLAGS_device == "cuda" ? c10::kCUDA : c10::kCPU);
  std::vector<at::Tensor> params;
  if (FLAGS_set == "resnet32") {
    auto resnet = qres::bench::ResNetParameters(FLAGS_resnet_layers);
    if (!resnet.ok()) {
      std::cerr << "optimizer_step_bench: " << resnet.status().message() << "\n";
      return 1;
    }
    params = std::move(*resnet);
    for (at::Tensor& p : params) {
      at::Tensor moved = p.detach().to(device).requires_grad_();
      moved.mutable_grad() = p.grad().to(device);
      p = moved;
    }
  } else if (FLAGS_set == "resnet50") {
    params = qres::bench::FromShapes(qres::bench::ResNet50Shapes(), device);
  } else if (FLAGS_set == "134m") {
    params = qres::bench::FromShapes(std::vector<std::vector<int64_t>>(8, {int64_t{1} << 24}), device);
  } else {
    std::cerr << "optimizer_step_bench: --set=" << FLAGS_set << ": use resnet32, resnet50 or 134m\n";
    return 1;
  }
  int64_t count = 0;
  for (const at::Tensor& p : params) count += p.numel();
  std::cout << absl::StrFormat(
      "%s parameter set: %d parameters in %d tensors on %s, %d CPU threads; "
      "best of %d rounds of %d steps\n\n",
      FLAGS_set, count, params.size(), device.str(), at::get_num_threads(), FLAGS_rounds, FLAGS_steps);
  at::NoGradGuard no_grad;
  const double lr = 1e-3;

  std::vector<std::string> names;
  std::vector<std::function<void()>> steps;
  // Candidates keep their state alive until the timing is done.
  std::vector<std::shared_ptr<void>> keep;
  // --only: candidates left out are not even set up (the 134m set's states are gigabytes).
  const auto wanted = [](const std::string& name) {
    return FLAGS_only.empty() || name.find(FLAGS_only) != std::string::npos;
  };

  // The bandwidth peer: a device-to-device copy of 28 bytes per parameter (read + write), the
  // traffic of an AdamW step.
  if (const std::string name = "device copy, 28 B/param (peer)"; wanted(name)) {
    const int64_t copy_floats = count * 7 / 2;
    auto copy_source = std::make_shared<at::Tensor>(at::empty({copy_floats}, params[0].options()).fill_(1));
    auto copy_target = std::make_shared<at::Tensor>(at::empty_like(*copy_source));
    keep.push_back(copy_source);
    keep.push_back(copy_target);
    names.push_back(name);
    steps.push_back([copy_source, copy_target] { copy_target->copy_(*copy_source); });
  }

  // PyTorch's fused AdamW kernel.
  if (wanted("PyTorch at::_fused_adamw_")) {
    auto s = std::make_shared<AdamState>(params);
    keep.push_back(s);
    names.push_back("PyTorch at::_fused_adamw_");
    steps.push_back([s, params, lr] {
      at::_fused_adamw_(params, s->grads, s->m, s->v, {}, s->steps, lr, 0.9, 0.999, 0.0, 1e-8, false, false);
    });
  }
  // PyTorch's fused SGD kernel (no momentum: the peer of qres SGD's defaults).
  if (wanted("PyTorch at::_fused_sgd_")) {
    std::vector<at::Tensor> grads;
    for (const at::Tensor& p : params) grads.push_back(p.grad());
    names.push_back("PyTorch at::_fused_sgd_");
    steps.push_back(
        [params, grads, lr] { at::_fused_sgd_(params, grads, {}, 0.0, 0.0, lr, 0.0, false, false, false); });
  }
  // torch.optim.AdamW(foreach=True)'s sequence of foreach ops.
  if (wanted("PyTorch foreach AdamW")) {
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
  // The reference's QtAdamW: one tensor at a time, a host-side zero check per tensor.
  if (wanted("reference-style QtAdamW loop")) {
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
  // Every registered optimizer with its defaults (bump schedule for the quantized ones), and the
  // quantized ones with the log schedule (at step ~200 of 200 epochs: the warm-up offset is on).
  std::vector<std::pair<std::string, std::string>> candidates;  // (name, quantizer parameters)
  for (const std::string& name : qres::optim::OptimizerRegistry::Names()) candidates.push_back({name, ""});
  candidates.push_back({"QtAdamW", "schedule=log"});
  candidates.push_back({"QtAdamW", "schedule=log,offset=false"});  // after the warm-up: one pass on a GPU
  candidates.push_back({"QSGD", "schedule=log"});
  for (const auto& [name, quant_params] : candidates) {
    const std::string label = "qres " + name + (quant_params.empty() ? "" : " " + quant_params);
    if (!wanted(label)) continue;
    std::vector<at::Tensor> copies;
    for (const at::Tensor& p : params) {
      at::Tensor c = p.detach().clone().requires_grad_();
      c.mutable_grad() = p.grad().clone();
      copies.push_back(c);
    }
    qres::optim::OptimizerSpec spec;
    spec.lr = lr;
    spec.quant_params = quant_params;
    spec.batches_per_epoch = 469;  // the log schedule's clock: CIFAR-10 at batch 128, 200 epochs
    spec.epochs = 200;
    auto optimizer = qres::optim::OptimizerRegistry::Create(name, copies, spec);
    if (!optimizer.ok()) {
      std::cerr << optimizer.status().message() << "\n";
      return 1;
    }
    std::shared_ptr<torch::optim::Optimizer> shared = std::move(*optimizer);
    keep.push_back(shared);
    names.push_back(label);
    steps.push_back([shared] { shared->step(); });
  }

  if (steps.empty()) {
    std::cerr << "optimizer_step_bench: --only=" << FLAGS_only << " matches no candidate\n";
    return 1;
  }
  // Named so that no misspelling can fall back on POSIX sync(), which flushes file systems.
  const std::function<void()> wait_for_device = [device = params[0].device()] {
    if (device.is_cuda()) at::detail::getCUDAHooks().deviceSynchronize(device.index());
  };
  const std::vector<double> ms = TimeInRounds(steps, wait_for_device);
  // The fused AdamW row is the ratio's base: the first row after the copy, unless --only left it out.
  const auto fused = std::find(names.begin(), names.end(), "PyTorch at::_fused_adamw_");
  const double base = fused == names.end() ? ms[0] : ms[fused - names.begin()];
  const auto copy = std::find(names.begin(), names.end(), "device copy, 28 B/param (peer)");
  const double copy_ms = copy == names.end() ? 0.0 : ms[copy - names.begin()];
  std::cout << absl::StrFormat("| %-40s | %9s | %9s | %14s | %10s |\n", "optimizer step", "ms/step", "x fused",
                               "GB/s at 28 B", "% of copy");
  std::cout << "|------------------------------------------|-----------|-----------|----------------|------------|\n";
  for (size_t i = 0; i < names.size(); ++i) {
    const double gbps = 28.0 * count / (ms[i] * 1e6);
    std::cout << absl::StrFormat("| %-40s | %9.3f | %9.2f | %14.1f | %9.0f%% |\n", names[i], ms[i], ms[i] / base, gbps,
                                 copy_ms > 0 ? 100.0 * copy_ms / ms[i] : 0.0);
  }
  return 0;
}
