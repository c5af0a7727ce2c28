#include "qres/bench/parameter_sets.h"

#include "ATen/TensorOperators.h"
#include "ATen/ops/randn.h"
#include "ATen/ops/randn_like.h"
#include "absl/strings/str_cat.h"
#include "qres/base/status_macros.h"
#include "qres/models/model.h"

namespace qres::bench {

std::vector<std::vector<int64_t>> ResNet50Shapes() {
  std::vector<std::vector<int64_t>> shapes = {{64, 3, 7, 7}, {64}, {64}};
  int64_t in = 64;
  const int64_t widths[] = {64, 128, 256, 512}, blocks[] = {3, 4, 6, 3};
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t w = widths[stage], out = 4 * w;
    for (int64_t b = 0; b < blocks[stage]; ++b) {
      for (const std::vector<int64_t>& conv : {std::vector<int64_t>{w, in, 1, 1}, {w, w, 3, 3}, {out, w, 1, 1}}) {
        shapes.push_back(conv);
        shapes.push_back({conv[0]});
        shapes.push_back({conv[0]});
      }
      if (b == 0) {
        shapes.push_back({out, in, 1, 1});
        shapes.push_back({out});
        shapes.push_back({out});
      }
      in = out;
    }
  }
  shapes.push_back({1000, 2048});
  shapes.push_back({1000});
  return shapes;
}

std::vector<at::Tensor> FromShapes(const std::vector<std::vector<int64_t>>& shapes, c10::Device device) {
  std::vector<at::Tensor> params;
  for (const auto& shape : shapes) {
    at::Tensor p = (at::randn(shape) * 0.05).to(device).requires_grad_();
    p.mutable_grad() = (at::randn(shape) * 1e-3).to(device);
    params.push_back(p);
  }
  return params;
}

absl::StatusOr<std::vector<at::Tensor>> ResNetParameters(int layers) {
  models::ModelSpec spec;
  spec.channels = 3;
  spec.height = spec.width = 32;
  spec.classes = 10;
  spec.options = absl::StrCat("layers=", layers);
  QRES_ASSIGN_OR_RETURN(auto net, models::CreateModel("ResNet", spec));
  std::vector<at::Tensor> params;
  for (const at::Tensor& p : net->parameters()) {
    at::Tensor copy = p.detach().clone().requires_grad_();
    copy.mutable_grad() = at::randn_like(p) * 1e-3;
    params.push_back(copy);
  }
  return params;
}

}  // namespace qres::bench
