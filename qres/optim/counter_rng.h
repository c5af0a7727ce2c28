// Counter-based random numbers for stochastic rounding: the uniform number for an element is a pure
// function of (seed, step, tensor, element), so a run gives the same result on every execution, on
// the CPU and on the GPU, whatever the thread layout. Header-only, usable from CUDA.
#ifndef QRES_OPTIM_COUNTER_RNG_H_
#define QRES_OPTIM_COUNTER_RNG_H_

#include <cstdint>

#if defined(__CUDACC__)
#define QRES_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define QRES_HOST_DEVICE static inline  // internal linkage: each file keeps its own copy, compiled for its own ISA
#endif

namespace qres::optim {

// SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.
QRES_HOST_DEVICE uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The stream of one tensor at one quantizer call.
QRES_HOST_DEVICE uint64_t StochasticStreamKey(uint64_t seed, uint64_t call, uint64_t tensor) {
  return Mix64(Mix64(seed ^ Mix64(call)) + tensor);
}

// A float in [0, 1) with 24 random bits (exactly representable), for element `index` of a stream.
QRES_HOST_DEVICE float UniformFloat(uint64_t stream_key, uint64_t index) {
  return static_cast<float>(Mix64(stream_key ^ (index * 0xD6E8FEB86659FD93ull)) >> 40) * (1.0f / 16777216.0f);
}

}  // namespace qres::optim

#endif  // QRES_OPTIM_COUNTER_RNG_H_
