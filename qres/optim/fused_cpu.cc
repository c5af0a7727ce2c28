#include "qres/optim/fused_cpu.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "ATen/Parallel.h"
#include "qres/optim/fused_cpu_kernels.h"
#include "qres/optim/step_math.h"

namespace qres::optim::fused_cpu {
namespace {

// Below this many elements a loop runs on one thread: waking the thread pool costs more than
// it saves (measured on ResNet-32's tensors).
constexpr int64_t kGrain = 1 << 18;

std::atomic<bool>& EnabledFlag() {
  static std::atomic<bool> enabled{true};
  return enabled;
}

// Runs body(begin, end) over fixed chunks, in parallel for large tensors.
template <typename Body>
void OverChunks(int64_t numel, const Body& body) {
  if (numel <= kGrain) return body(0, numel);
  const int64_t chunks = (numel + kGrain - 1) / kGrain;
  at::parallel_for(0, chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) body(c * kGrain, std::min((c + 1) * kGrain, numel));
  });
}

}  // namespace

bool Available() {
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
}

void SetEnabled(bool enabled) { EnabledFlag() = enabled; }
bool Enabled() { return EnabledFlag() && Available(); }

void AdamReference(const TensorStep& step, float* update) {
  OverChunks(step.numel, [&](int64_t begin, int64_t end) { kernels::AdamRange(step, update, begin, end); });
}

void Sgd(const TensorStep& step, float* update) {
  OverChunks(step.numel, [&](int64_t begin, int64_t end) { kernels::SgdRange(step, update, begin, end); });
}

step_math::RoundedTotal SumRounded(const float* h, int64_t numel, const RoundedSum& r) {
  if (numel <= kGrain) return kernels::SumRoundedRange(h, r, 0, numel);
  std::vector<step_math::RoundedTotal> partial((numel + kGrain - 1) / kGrain);
  OverChunks(numel,
             [&](int64_t begin, int64_t end) { partial[begin / kGrain] = kernels::SumRoundedRange(h, r, begin, end); });
  step_math::RoundedTotal total;  // integer sums: exact in any order
  for (const step_math::RoundedTotal& p : partial) {
    total.sum += p.sum;
    total.unfit += p.unfit;
  }
  return total;
}

void AddRounded(float* param, const float* h, int64_t numel, const RoundedSum& r) {
  OverChunks(numel, [&](int64_t begin, int64_t end) { kernels::AddRoundedRange(param, h, r, begin, end); });
}

void DecayInPlace(float* param, int64_t numel, float factor) {
  OverChunks(numel, [&](int64_t begin, int64_t end) { kernels::DecayRange(param, factor, begin, end); });
}

double SumSquaresInOrder(const float* h, int64_t numel) {
  const int64_t chunks = (numel + step_math::kNormChunk - 1) / step_math::kNormChunk;
  std::vector<double> partials(chunks);
  const int64_t grain = std::max<int64_t>(1, kGrain / step_math::kNormChunk);
  at::parallel_for(0, chunks, grain, [&](int64_t first, int64_t last) {
    kernels::NormPartialsRange(h, numel, first, last, partials.data());
  });
  double total = 0.0;
  for (double partial : partials) total += partial;  // in chunk order, as every device
  return total;
}

void AddOffset(float* h, int64_t numel, float factor) {
  OverChunks(numel, [&](int64_t begin, int64_t end) { kernels::OffsetRange(h, factor, begin, end); });
}

}  // namespace qres::optim::fused_cpu
