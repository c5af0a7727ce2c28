// The benchmarks' parameter sets: tensors with gradients set, ready for an optimizer step.
#ifndef QRES_BENCH_PARAMETER_SETS_H_
#define QRES_BENCH_PARAMETER_SETS_H_

#include <cstdint>
#include <vector>

#include "ATen/core/Tensor.h"
#include "absl/status/statusor.h"
#include "c10/core/Device.h"

namespace qres::bench {

// ImageNet ResNet-50's parameter shapes (torchvision order: 25,557,032 parameters in 161
// tensors), without building the net.
std::vector<std::vector<int64_t>> ResNet50Shapes();

// Random parameters of these shapes on `device`, with random gradients.
std::vector<at::Tensor> FromShapes(const std::vector<std::vector<int64_t>>& shapes, c10::Device device);

// The CIFAR ResNet-(6n+2)'s parameters (n = `layers`; 5: ResNet-32, 464,154 parameters in 95
// tensors) as initialised, on the CPU, with random gradients.
absl::StatusOr<std::vector<at::Tensor>> ResNetParameters(int layers);

}  // namespace qres::bench

#endif  // QRES_BENCH_PARAMETER_SETS_H_
