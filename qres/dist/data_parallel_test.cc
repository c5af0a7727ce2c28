// DataParallel as one process, a world of one: the whole batch, a plain backward, every
// collective local; Run turns what LibTorch throws into a Status that names the work.
#include "qres/dist/data_parallel.h"

#include <exception>
#include <stdexcept>
#include <vector>

#include "ATen/ops/equal.h"
#include "ATen/ops/ones.h"
#include "c10/util/Exception.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::dist {
namespace {

using ::testing::HasSubstr;

TEST(DataParallelTest, AWorldOfOne) {
  DataParallel one;
  EXPECT_TRUE(one.single());
  EXPECT_TRUE(one.lead());
  EXPECT_EQ(one.world_size(), 1);
  const BatchSlice slice = one.Slice(100);
  EXPECT_TRUE(slice.whole());
  EXPECT_EQ(slice.share(), 1.0);

  at::Tensor w = at::ones({3}).requires_grad_(true);
  ASSERT_TRUE(one.Run("a step", [&] { one.Backward((w * w).sum(), slice, {w}); }).ok());
  EXPECT_TRUE(at::equal(w.grad(), at::ones({3}) * 2));

  std::vector<double> values = {1.5, -2};
  ASSERT_TRUE(one.Reduce(values).ok());
  EXPECT_EQ(values, (std::vector<double>{1.5, -2}));
  EXPECT_TRUE(*one.AnyStops(true));
  EXPECT_FALSE(*one.AnyStops(false));
  EXPECT_TRUE(one.Broadcast({w}).ok());
  EXPECT_TRUE(one.SyncBuffersAndCheck({w}, {}, 3, 1).ok());
}

TEST(DataParallelTest, RunNamesTheWork) {
  DataParallel one;
  const absl::Status status =
      one.Run("epoch 2 batch 5: the training step", [] { TORCH_CHECK(false, "out of memory"); });
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("epoch 2 batch 5: the training step"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("out of memory"));
}

TEST(DataParallelTest, LostContactIsToldByTheErrorsType) {
  auto thrown = [](auto&& f) {
    try {
      f();
    } catch (...) {
      return std::current_exception();
    }
    return std::exception_ptr();
  };
  EXPECT_TRUE(DataParallel::IsLostContact(thrown([] { throw c10::DistNetworkError("Connection reset", {}); })));
  EXPECT_TRUE(DataParallel::IsLostContact(thrown([] { throw c10::DistStoreError("store gone", {}); })));
  // A rank's own failure, whatever its text says, names no lost rank.
  EXPECT_FALSE(DataParallel::IsLostContact(thrown([] { TORCH_CHECK(false, "Connection timed out"); })));
  EXPECT_FALSE(DataParallel::IsLostContact(thrown([] { throw std::runtime_error("Read error"); })));
}

}  // namespace
}  // namespace qres::dist
