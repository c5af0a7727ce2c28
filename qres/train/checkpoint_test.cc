// A checkpoint round trip restores the position, the net, the optimizer and the schedule; a
// checkpoint made with other settings is an error naming the first setting that differs.
#include "qres/train/checkpoint.h"

#include <string>

#include "ATen/ops/equal.h"
#include "ATen/ops/ones_like.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/data/test_files.h"
#include "qres/optim/optimizer.h"

namespace qres::train {
namespace {

using ::testing::HasSubstr;

struct Trainee {
  std::shared_ptr<models::Net> net;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::optional<sched::LrSchedule> schedule;
};

Trainee Make(uint64_t seed) {
  at::manual_seed(seed);
  Trainee t;
  t.net = *models::CreateModel("CNN", models::ModelSpec{});
  optim::OptimizerSpec spec;
  spec.lr = 0.01;
  spec.qp = 2;
  t.optimizer = *optim::OptimizerRegistry::Create("QtAdamW", t.net->parameters(), spec);
  t.schedule = *sched::MakeLrSchedule("ExponentialLR", sched::SchedulerSpec{0.01, 3, 1, "gamma=0.5"});
  return t;
}

TEST(CheckpointTest, ARoundTripRestoresTheRun) {
  Trainee a = Make(1);
  for (at::Tensor& p : a.net->parameters()) p.mutable_grad() = at::ones_like(p);
  a.optimizer->step();
  a.schedule->Step();
  Position position;
  position.epoch = 2;
  position.batch = 7;
  position.loss_sum = 1.25;
  position.correct = 40;
  position.seen = 64;
  position.losses = {0.9, 0.5};
  position.metrics = "{\"epoch\": 1}\n";
  const Settings settings = {{"lr", "0.01"}, {"net", "CNN"}, {"world_size", "2"}};
  const std::string path = data::testing::MakeTempDir("checkpoint_round_trip") + "/checkpoint.pt";
  ASSERT_TRUE(SaveCheckpoint(path, *a.net, *a.optimizer, *a.schedule, position, "the log\n", settings).ok());

  Trainee b = Make(2);  // other initial weights, overwritten by the load
  Position loaded;
  std::string log, world_size;
  const absl::Status status = LoadCheckpoint(path, *b.net, *b.optimizer, *b.schedule, loaded, log,
                                             {{"lr", "0.01"}, {"net", "CNN"}}, world_size);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(loaded.epoch, 2);
  EXPECT_EQ(loaded.batch, 7);
  EXPECT_EQ(loaded.loss_sum, 1.25);
  EXPECT_EQ(loaded.correct, 40);
  EXPECT_EQ(loaded.seen, 64);
  EXPECT_EQ(loaded.losses, position.losses);
  EXPECT_EQ(loaded.metrics, position.metrics);
  EXPECT_EQ(log, "the log\n");
  EXPECT_EQ(world_size, "2");
  EXPECT_EQ(b.schedule->lr(), a.schedule->lr());
  EXPECT_EQ(optim::QuantizerOf(*b.optimizer)->index(), optim::QuantizerOf(*a.optimizer)->index());
  const auto pa = a.net->parameters(), pb = b.net->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(at::equal(pa[i], pb[i])) << i;
}

TEST(CheckpointTest, OtherSettingsAreAnErrorNamingTheFirst) {
  Trainee a = Make(1);
  const std::string path = data::testing::MakeTempDir("checkpoint_settings") + "/checkpoint.pt";
  ASSERT_TRUE(
      SaveCheckpoint(path, *a.net, *a.optimizer, *a.schedule, Position{}, "", {{"lr", "0.01"}, {"seed", "1"}}).ok());
  Position position;
  std::string log, world_size;
  const absl::Status status = LoadCheckpoint(path, *a.net, *a.optimizer, *a.schedule, position, log,
                                             {{"lr", "0.02"}, {"seed", "1"}}, world_size);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr(path + " was made with --lr=0.01, this run has --lr=0.02; resume with the run's own settings"));
}

}  // namespace
}  // namespace qres::train
