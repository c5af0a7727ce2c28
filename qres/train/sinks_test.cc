// The sinks read the step's loss only on the steps they show (each read waits for the device), and
// TensorBoard's files hold what the run reported.
#include "qres/train/sinks.h"

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "qres/data/test_files.h"

namespace qres::train {
namespace {

// Steps 1..n of one epoch of n batches, counting the sink's reads of the two losses.
void Feed(RunSink& sink, int64_t n, int* loss_reads, int* epoch_loss_reads) {
  for (int64_t b = 1; b <= n; ++b) {
    StepReport step;
    step.step = b;
    step.epoch = step.epochs = 1;
    step.batch = b;
    step.batches = n;
    step.quant_index = []() -> std::optional<double> { return 3.0; };
    step.loss = [&]() -> absl::StatusOr<double> {
      ++*loss_reads;
      return 0.5;
    };
    step.epoch_loss = [&]() -> absl::StatusOr<double> {
      ++*epoch_loss_reads;
      return 0.6;
    };
    ASSERT_TRUE(sink.OnStep(step).ok());
  }
}

TEST(ProgressBarTest, ReadsTheLossOnlyWhenItRedraws) {
  ProgressBar bar;
  int loss_reads = 0, epoch_loss_reads = 0;
  Feed(bar, 1000, &loss_reads, &epoch_loss_reads);
  bar.OnBatchesDone();
  EXPECT_EQ(loss_reads, 0);
  // The first batch, the last, and one per 250 ms between: twice where the 1000 calls take under
  // 250 ms; 100 is what redrawing every 10th batch read, which would take 25 s of calls here.
  EXPECT_GE(epoch_loss_reads, 2);
  EXPECT_LT(epoch_loss_reads, 100);
}

TEST(TensorBoardSinkTest, WritesEveryNthStepAndEachEpoch) {
  const std::string dir = data::testing::MakeTempDir("sinks_every") + "/tb";
  std::unique_ptr<TensorBoardSink> sink = TensorBoardSink::Open(dir, /*clear=*/true, /*every=*/4);
  ASSERT_NE(sink, nullptr);
  int loss_reads = 0, epoch_loss_reads = 0;
  Feed(*sink, 10, &loss_reads, &epoch_loss_reads);
  EXPECT_EQ(loss_reads, 2);  // steps 4 and 8
  EXPECT_EQ(epoch_loss_reads, 0);
  io::EpochMetrics epoch;
  epoch.epoch = 1;
  sink->OnEpoch(epoch);
  EXPECT_GT(std::filesystem::file_size(sink->path()), 100u);

  // A fresh run of the same name clears the folder's old event files; a resumed one keeps them.
  sink.reset();
  const std::string old = dir + "/events.out.tfevents.1.earlier.run";
  std::FILE* f = std::fopen(old.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  ASSERT_NE(TensorBoardSink::Open(dir, /*clear=*/false, 4), nullptr);
  EXPECT_TRUE(std::filesystem::exists(old));
  ASSERT_NE(TensorBoardSink::Open(dir, /*clear=*/true, 4), nullptr);
  EXPECT_FALSE(std::filesystem::exists(old));
}

TEST(TensorBoardSinkTest, AFolderThatCannotBeMadeIsNoSink) {
  const std::string file = data::testing::MakeTempDir("sinks_a_file") + "/a_file";
  std::FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fclose(f);
  EXPECT_EQ(TensorBoardSink::Open(file + "/tb", true, 1), nullptr);
}

}  // namespace
}  // namespace qres::train
