// TrainConfig::Validate: the defaults are valid, and each setting out of its range is one line
// naming its flag.
#include "qres/train/train_config.h"

#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::train {
namespace {

using ::testing::HasSubstr;

TEST(TrainConfigTest, ValidateNamesEachBadSetting) {
  EXPECT_TRUE(TrainConfig().Validate().ok());
  auto error = [](void (*change)(TrainConfig&)) {
    TrainConfig config;
    change(config);
    return std::string(config.Validate().message());
  };
  EXPECT_THAT(error([](TrainConfig& c) { c.out_dir = ""; }), HasSubstr("--out_dir is empty"));
  EXPECT_THAT(error([](TrainConfig& c) { c.epochs = 0; }), HasSubstr("--epochs=0 must be > 0"));
  EXPECT_THAT(error([](TrainConfig& c) { c.lr = std::numeric_limits<double>::quiet_NaN(); }),
              HasSubstr("--lr=nan must be a finite number >= 0"));
  EXPECT_THAT(error([](TrainConfig& c) { c.batch_size = -1; }), HasSubstr("--batch_size=-1 must be > 0"));
  EXPECT_THAT(error([](TrainConfig& c) { c.tensorboard_every = -1; }), HasSubstr("--tensorboard_every=-1"));
  EXPECT_THAT(error([](TrainConfig& c) { c.resume = true, c.resume_from = "x.pt"; }),
              HasSubstr("--resume and --resume_from: give one"));
  EXPECT_THAT(error([](TrainConfig& c) { c.threads = 1 << 20; }), HasSubstr("--threads=1048576 must be in [0, "));
  EXPECT_THAT(error([](TrainConfig& c) { c.dist_bucket_mb = 2000; }), HasSubstr("--dist_bucket_mb=2000"));
  EXPECT_THAT(error([](TrainConfig& c) { c.dist_timeout_s = 0; }), HasSubstr("--dist_timeout=0 must be >= 1"));
  EXPECT_THAT(error([](TrainConfig& c) { c.dist_backend = "mpi"; }), HasSubstr("--dist_backend=mpi"));
}

}  // namespace
}  // namespace qres::train
