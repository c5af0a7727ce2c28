#include "qres/data/batches.h"

#include <set>
#include <vector>

#include "ATen/ops/arange.h"
#include "ATen/ops/cat.h"
#include "ATen/ops/equal.h"
#include "ATen/ops/sort.h"
#include "ATen/ops/zeros.h"
#include "gtest/gtest.h"

namespace qres::data {
namespace {

// 10 images whose pixels all equal their index, labels = index % 3.
Dataset Numbered(int64_t n, int64_t channels = 1, int64_t size = 8) {
  Dataset data;
  data.name = "numbered";
  data.images = at::arange(n, at::kByte).view({n, 1, 1, 1}).expand({n, channels, size, size}).contiguous();
  data.labels = at::arange(n, at::kLong).remainder(3);
  data.classes = 3;
  return data;
}

BatchOptions Options(int64_t batch, bool shuffle, bool drop_last) {
  BatchOptions options;
  options.batch_size = batch;
  options.shuffle = shuffle;
  options.drop_last = drop_last;
  options.seed = 5;
  return options;
}

std::vector<int64_t> Order(Batches& batches, int64_t epoch) {
  batches.StartEpoch(epoch);
  std::vector<int64_t> order;
  for (int64_t b = 0; b < batches.size(); ++b) {
    Batch batch = batches.Get(b);
    for (int64_t i = 0; i < batch.images.size(0); ++i) {
      order.push_back(static_cast<int64_t>(std::lround(batch.images[i][0][0][0].item<float>() * 255)));
    }
  }
  return order;
}

TEST(BatchesTest, FileOrderAndDropLastAsTheReference) {
  Batches keep(Numbered(10), Options(4, false, false));
  EXPECT_EQ(keep.size(), 3);
  EXPECT_EQ(Order(keep, 0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  Batches drop(Numbered(10), Options(4, false, true));
  EXPECT_EQ(drop.size(), 2);
  EXPECT_EQ(Order(drop, 0), (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(BatchesTest, ShuffleIsASeededPermutationPerEpoch) {
  Batches a(Numbered(10), Options(3, true, false));
  Batches b(Numbered(10), Options(3, true, false));
  const std::vector<int64_t> first = Order(a, 0);
  EXPECT_EQ(first, Order(b, 0));                                         // same seed and epoch: same order (resumable)
  EXPECT_NE(first, Order(a, 1));                                         // another epoch: another order
  EXPECT_EQ(std::set<int64_t>(first.begin(), first.end()).size(), 10u);  // a permutation
  Batch batch = a.Get(0);
  a.StartEpoch(0);
  batch = a.Get(0);
  for (int64_t i = 0; i < batch.labels.size(0); ++i) {  // labels travel with their images
    const int64_t index = std::lround(batch.images[i][0][0][0].item<float>() * 255);
    EXPECT_EQ(batch.labels[i].item<int64_t>(), index % 3);
  }
}

TEST(BatchesTest, NormalisesAsTheReference) {
  Dataset data = Numbered(2);
  data.images.fill_(255);
  BatchOptions options = Options(2, false, false);
  options.normalization = Normalization::kSymmetric;
  EXPECT_EQ(Batches(data, options).Get(0).images.max().item<float>(), 1.0f);
  options.normalization = Normalization::kUnit;
  EXPECT_EQ(Batches(data, options).Get(0).images.min().item<float>(), 1.0f);
  data.images.zero_();
  options.normalization = Normalization::kSymmetric;
  EXPECT_EQ(Batches(data, options).Get(0).images.min().item<float>(), -1.0f);
}

// channels_last: the same values in NHWC memory, with real strides for one channel too.
TEST(BatchesTest, ChannelsLastBatchesHoldTheSameValues) {
  for (const int64_t channels : {1, 3}) {
    Dataset data = Numbered(10, channels, 8);
    BatchOptions options;
    options.batch_size = 4;
    options.shuffle = false;
    const Batches plain(data, options);
    options.channels_last = true;
    const Batches nhwc(data, options);
    for (int64_t b = 0; b < plain.size(); ++b) {
      const at::Tensor images = nhwc.Get(b).images;
      EXPECT_TRUE(at::equal(images, plain.Get(b).images)) << channels;
      EXPECT_EQ(images.stride(1), 1) << channels;
      EXPECT_EQ(images.stride(3), channels) << channels;
    }
  }
}

TEST(BatchesTest, AugmentationCropsAndFlipsReproducibly) {
  Dataset data = Numbered(64, 3, 32);
  // A horizontal ramp, so crops and flips are visible: pixel = column.
  data.images = at::arange(32, at::kByte).view({1, 1, 1, 32}).expand({64, 3, 32, 32}).contiguous();
  BatchOptions options = Options(64, false, false);
  options.augment = true;
  Batches a(data, options), b(data, options);
  a.StartEpoch(0);
  b.StartEpoch(0);
  const at::Tensor x = a.Get(0).images;
  EXPECT_TRUE(at::equal(x, b.Get(0).images));
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{64, 3, 32, 32}));
  int flipped = 0, shifted = 0, padded = 0;
  for (int64_t i = 0; i < 64; ++i) {
    const at::Tensor row = x[i][0][16];
    const float left = row[10].item<float>(), right = row[11].item<float>();
    flipped += right < left;
    shifted += std::lround(std::min(left, right) * 255) != 10;
    padded += (x[i][0][0].sum().item<float>() == 0.0f) || (x[i][0][31].sum().item<float>() == 0.0f);
  }
  EXPECT_GT(flipped, 10);
  EXPECT_LT(flipped, 54);
  EXPECT_GT(shifted, 20);
  EXPECT_GT(padded, 10);  // vertical shifts bring in zero padding rows
}

}  // namespace
}  // namespace qres::data
