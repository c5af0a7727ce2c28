#include "qres/data/batches.h"

#include <algorithm>

#include "ATen/CPUGeneratorImpl.h"
#include "ATen/TensorOperators.h"
#include "ATen/core/Generator.h"
#include "ATen/ops/arange.h"
#include "ATen/ops/constant_pad_nd.h"
#include "ATen/ops/empty.h"
#include "ATen/ops/flip.h"
#include "ATen/ops/randint.h"
#include "ATen/ops/randperm.h"
#include "ATen/ops/tensor.h"
#include "ATen/ops/where.h"
#include "c10/core/GradMode.h"

namespace qres::data {
namespace {

// A CPU generator for (seed, epoch, stream): the same numbers on every run and after a resume.
at::Generator SeededGenerator(uint64_t seed, int64_t epoch, int64_t stream) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>();
  generator.set_current_seed(seed * 1000003u + static_cast<uint64_t>(epoch) * 7919u + static_cast<uint64_t>(stream));
  return generator;
}

}  // namespace

Batches::Batches(const Dataset& dataset, BatchOptions options) : options_(std::move(options)) {
  images_ = dataset.images.to(options_.device);
  labels_ = dataset.labels.to(options_.device);
  if (options_.normalization == Normalization::kMeanStd) {
    const int64_t channels = dataset.images.size(1);
    std::vector<float> mean(dataset.mean.begin(), dataset.mean.end());
    std::vector<float> std(dataset.std.begin(), dataset.std.end());
    mean.resize(channels, mean.empty() ? 0.5f : mean.back());
    std.resize(channels, std.empty() ? 0.5f : std.back());
    mean_ = at::tensor(mean).view({1, channels, 1, 1}).to(options_.device);
    std_ = at::tensor(std).view({1, channels, 1, 1}).to(options_.device);
  }
}

void Batches::StartEpoch(int64_t epoch) {
  epoch_ = epoch;
  if (!options_.shuffle) {
    order_ = at::Tensor();
    return;
  }
  at::Generator generator = SeededGenerator(options_.seed, epoch, 0);
  order_ = at::randperm(samples(), generator, at::kLong).to(options_.device);
}

int64_t Batches::size() const {
  const int64_t n = samples();
  const int64_t b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

Batch Batches::Get(int64_t index) const {
  at::NoGradGuard no_grad;
  const int64_t begin = index * options_.batch_size;
  const int64_t end = std::min(begin + options_.batch_size, samples());
  Batch batch;
  at::Tensor images;
  if (order_.defined()) {
    const at::Tensor picks = order_.slice(0, begin, end);
    images = images_.index_select(0, picks);
    batch.labels = labels_.index_select(0, picks);
  } else {
    images = images_.slice(0, begin, end);
    batch.labels = labels_.slice(0, begin, end);
  }
  if (options_.augment) images = Augment(images, index);
  batch.images = Normalize(images);
  return batch;
}

at::Tensor Batches::Normalize(const at::Tensor& images) const {
  // One pass converts the type, and the layout where asked.
  at::Tensor x = options_.channels_last
                     ? at::empty(images.sizes(), images.options().dtype(at::kFloat), at::MemoryFormat::ChannelsLast)
                           .copy_(images)
                           .div_(255.0)
                     : images.to(at::kFloat).div_(255.0);
  switch (options_.normalization) {
    case Normalization::kUnit:
      return x;
    case Normalization::kSymmetric:
      return x.sub_(0.5).div_(0.5);
    case Normalization::kMeanStd:
      return x.sub_(mean_).div_(std_);
  }
  return x;
}

at::Tensor Batches::Augment(const at::Tensor& images, int64_t index) const {
  // Random 4-pixel-padded crop and horizontal flip, per sample, as gathers on the device.
  const int64_t n = images.size(0), h = images.size(2), w = images.size(3), pad = 4;
  at::Generator generator = SeededGenerator(options_.seed, epoch_, index + 1);
  const auto device = images.device();
  const at::Tensor dy = at::randint(0, 2 * pad + 1, {n, 1}, generator, at::kLong).to(device);
  const at::Tensor dx = at::randint(0, 2 * pad + 1, {n, 1}, generator, at::kLong).to(device);
  const at::Tensor flip = at::randint(0, 2, {n, 1, 1, 1}, generator, at::kLong).to(device).to(at::kBool);
  const at::Tensor padded = at::constant_pad_nd(images, {pad, pad, pad, pad}, 0);
  const at::Tensor rows = (dy + at::arange(h, images.options().dtype(at::kLong))).view({n, 1, h, 1});
  const at::Tensor cols = (dx + at::arange(w, images.options().dtype(at::kLong))).view({n, 1, 1, w});
  const int64_t padded_w = w + 2 * pad;
  // Flatten H and W so one gather picks every pixel of every crop.
  const at::Tensor flat = padded.flatten(2);
  const at::Tensor picks = (rows * padded_w + cols).expand({n, images.size(1), h, w}).flatten(2);
  at::Tensor cropped = flat.gather(2, picks).view({n, images.size(1), h, w});
  return at::where(flip, cropped.flip({3}), cropped);
}

}  // namespace qres::data
