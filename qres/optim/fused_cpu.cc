#include "qres/optim/fused_cpu.h"

#include <atomic>
#include <cmath>
#include <vector>

#include "ATen/Parallel.h"
#include "qres/optim/counter_rng.h"

namespace qres::optim::fused_cpu {
namespace {

// Below this many elements a loop runs on one thread: waking the thread pool costs more than
// it saves (measured on ResNet-32's tensors).
constexpr int64_t kGrain = 1 << 18;

std::atomic<bool>& EnabledFlag() {
  static std::atomic<bool> enabled{true};
  return enabled;
}

// The loops below are compiled for AVX2 + FMA through this attribute (not the whole file, so
// that no inline function shared with other files gets AVX2 code); Available() guards them.
#define QRES_AVX2 __attribute__((target("avx2,fma")))

template <typename Body>
void ForEachChunk(int64_t numel, const Body& body) {
  if (numel <= kGrain) {
    body(0, numel);
  } else {
    at::parallel_for(0, numel, kGrain, body);
  }
}

}  // namespace

bool Available() {
  static const bool available = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return available;
}

void SetEnabled(bool enabled) { EnabledFlag() = enabled; }
bool Enabled() { return EnabledFlag() && Available(); }

QRES_AVX2 static void AdamMomentsRange(const AdamArgs& a, int64_t begin, int64_t end) {
  const float b1 = static_cast<float>(a.beta1), omb1 = static_cast<float>(1.0 - a.beta1);
  const float b2 = static_cast<float>(a.beta2), omb2 = static_cast<float>(1.0 - a.beta2);
  const float l2 = static_cast<float>(a.l2);
  const float* __restrict param = a.param;
  const float* __restrict grad = a.grad;
  float* __restrict m = a.exp_avg;
  float* __restrict v = a.exp_avg_sq;
  if (a.l2 != 0.0) {
    for (int64_t j = begin; j < end; ++j) {
      const float g = std::fma(param[j], l2, grad[j]);
      m[j] = std::fma(g, omb1, m[j] * b1);
      v[j] = std::fma(omb2 * g, g, v[j] * b2);
    }
  } else {
    for (int64_t j = begin; j < end; ++j) {
      const float g = grad[j];
      m[j] = std::fma(g, omb1, m[j] * b1);
      v[j] = std::fma(omb2 * g, g, v[j] * b2);
    }
  }
}

QRES_AVX2 static void AdamUpdateRange(const AdamArgs& a, int64_t begin, int64_t end) {
  const float eps = static_cast<float>(a.eps), neg_step = static_cast<float>(a.neg_step);
  const float* __restrict m = a.exp_avg;
  const float* __restrict root = a.sqrt_exp_avg_sq;
  if (a.update != nullptr) {
    float* __restrict h = a.update;
    for (int64_t j = begin; j < end; ++j) h[j] = (m[j] / (root[j] + eps)) * neg_step;
  } else {
    float* __restrict param = a.param;
    for (int64_t j = begin; j < end; ++j) param[j] = param[j] + (neg_step * m[j]) / (root[j] + eps);
  }
}

void AdamMoments(const AdamArgs& a) {
  ForEachChunk(a.numel, [&](int64_t begin, int64_t end) { AdamMomentsRange(a, begin, end); });
}

void AdamUpdate(const AdamArgs& a) {
  ForEachChunk(a.numel, [&](int64_t begin, int64_t end) { AdamUpdateRange(a, begin, end); });
}

QRES_AVX2 static void DecayRange(float* __restrict param, float factor, int64_t begin, int64_t end) {
  for (int64_t j = begin; j < end; ++j) param[j] = std::fma(param[j], factor, param[j]);
}

void DecayInPlace(float* param, int64_t numel, double alpha) {
  const float factor = static_cast<float>(alpha);
  ForEachChunk(numel, [&](int64_t begin, int64_t end) { DecayRange(param, factor, begin, end); });
}

QRES_AVX2 static void SgdRange(const SgdArgs& a, int64_t begin, int64_t end) {
  const float wd = static_cast<float>(a.weight_decay), mom = static_cast<float>(a.momentum);
  const float omd = static_cast<float>(1.0 - a.dampening), neg_lr = static_cast<float>(a.neg_lr);
  const bool has_wd = a.weight_decay != 0.0, has_momentum = a.momentum != 0.0;
  const bool first = a.first, nesterov = a.nesterov;
  float* __restrict param = a.param;
  const float* __restrict grad = a.grad;
  float* __restrict buffer = a.momentum_buffer;
  float* __restrict update = a.update;
  for (int64_t j = begin; j < end; ++j) {
    float d = grad[j];
    if (has_wd) d = std::fma(param[j], wd, d);
    if (has_momentum) {
      const float buf = first ? d : std::fma(d, omd, buffer[j] * mom);
      buffer[j] = buf;
      d = nesterov ? std::fma(buf, mom, d) : buf;
    }
    if (update != nullptr) {
      update[j] = d * neg_lr;
    } else {
      param[j] = std::fma(d, neg_lr, param[j]);
    }
  }
}

void Sgd(const SgdArgs& a) {
  ForEachChunk(a.numel, [&](int64_t begin, int64_t end) { SgdRange(a, begin, end); });
}

// One loop per rounding mode, so each vectorises.
template <int kRounding>
QRES_AVX2 static int64_t RoundRange(const float* __restrict h, float* __restrict q, float scale, uint64_t key,
                             bool count_nonzero, int64_t begin, int64_t end) {
  int64_t sum = 0;
  for (int64_t j = begin; j < end; ++j) {
    const float x = h[j] * scale;
    float r;
    if constexpr (kRounding == 0) r = std::floor(x + 0.5f);
    if constexpr (kRounding == 1) r = std::floor(x);
    if constexpr (kRounding == 2) r = std::nearbyint(x);  // the default mode: ties to even
    if constexpr (kRounding == 3) r = std::floor(x + UniformFloat(key, static_cast<uint64_t>(j)));
    q[j] = r;
    sum += count_nonzero ? static_cast<int64_t>(r != 0.0f) : static_cast<int64_t>(r);
  }
  return sum;
}

int64_t RoundScaled(const float* h, float* q, int64_t numel, float scale, int rounding,
                    uint64_t stream_key, bool count_nonzero) {
  const int64_t chunks = (numel + kGrain - 1) / kGrain;
  std::vector<int64_t> partial(std::max<int64_t>(chunks, 1), 0);
  ForEachChunk(numel, [&](int64_t begin, int64_t end) {
    int64_t sum;
    switch (rounding) {
      case 0: sum = RoundRange<0>(h, q, scale, stream_key, count_nonzero, begin, end); break;
      case 1: sum = RoundRange<1>(h, q, scale, stream_key, count_nonzero, begin, end); break;
      case 2: sum = RoundRange<2>(h, q, scale, stream_key, count_nonzero, begin, end); break;
      default: sum = RoundRange<3>(h, q, scale, stream_key, count_nonzero, begin, end); break;
    }
    partial[begin / kGrain] = sum;
  });
  int64_t total = 0;
  for (int64_t s : partial) total += s;
  return total;
}

QRES_AVX2 static void AddScaledRange(float* __restrict param, const float* __restrict q, float scale,
                                     int64_t begin, int64_t end) {
  for (int64_t j = begin; j < end; ++j) param[j] = param[j] + q[j] / scale;
}

void AddScaled(float* param, const float* q, int64_t numel, float scale) {
  ForEachChunk(numel, [&](int64_t begin, int64_t end) { AddScaledRange(param, q, scale, begin, end); });
}

QRES_AVX2 static void AddOffsetRange(const float* __restrict h, float* __restrict out, float factor,
                                     int64_t begin, int64_t end) {
  for (int64_t j = begin; j < end; ++j) out[j] = h[j] + h[j] * factor;
}

void AddOffset(const float* h, float* out, int64_t numel, float factor) {
  ForEachChunk(numel, [&](int64_t begin, int64_t end) { AddOffsetRange(h, out, factor, begin, end); });
}

}  // namespace qres::optim::fused_cpu
