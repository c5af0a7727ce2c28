// Minibatches of a Dataset, made on the training device from tensors that are moved there once.
//
//   Batches batches(train, options);            // images and labels go to options.device once
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     batches.StartEpoch(epoch);                // the order of `epoch` (seeded: resumable)
//     for (int64_t b = 0; b < batches.size(); ++b) {
//       Batch batch = batches.Get(b);           // float images, normalised (and augmented)
//     }
//   }
#ifndef QRES_DATA_BATCHES_H_
#define QRES_DATA_BATCHES_H_

#include <cstdint>

#include "ATen/core/Tensor.h"
#include "c10/core/Device.h"
#include "qres/data/dataset.h"

namespace qres::data {

struct BatchOptions {
  int64_t batch_size = 100;
  bool shuffle = true;     // the reference does not shuffle (shuffle=false reproduces it)
  bool drop_last = false;  // the reference drops the last partial batch
  bool augment = false;    // random crop (4-pixel zero padding) and horizontal flip
  uint64_t seed = 0;       // shuffling and augmentation
  Normalization normalization = Normalization::kUnit;
  c10::Device device = c10::Device(c10::kCPU);
  // Images in channels-last memory (NHWC strides, even for one channel), for nets that convolve
  // channels-last (models::IsChannelsLast).
  bool channels_last = false;
};

struct Batch {
  at::Tensor images;  // float [B, C, H, W]
  at::Tensor labels;  // int64 [B]
};

class Batches {
 public:
  Batches(const Dataset& dataset, BatchOptions options);

  // Sets the sample order of `epoch`: a permutation seeded by (seed, epoch), or the file order.
  void StartEpoch(int64_t epoch);
  // Batches per epoch.
  int64_t size() const;
  Batch Get(int64_t index) const;
  int64_t samples() const { return labels_.size(0); }

 private:
  at::Tensor Normalize(const at::Tensor& images) const;
  at::Tensor Augment(const at::Tensor& images, int64_t index) const;

  BatchOptions options_;
  at::Tensor images_;  // uint8, on the device
  at::Tensor labels_;  // int64, on the device
  at::Tensor order_;   // int64 sample order of the current epoch, on the device (undefined: files)
  at::Tensor mean_, std_;
  int64_t epoch_ = 0;
};

}  // namespace qres::data

#endif  // QRES_DATA_BATCHES_H_
