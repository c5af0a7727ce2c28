// A run's file names, the checkpoints of other epoch counts, the TensorBoard folder and the lock.
#include "qres/train/run_files.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/data/test_files.h"
#include "qres/io/files.h"

namespace qres::train {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RunFilesTest, NamesAreTheSeeds) {
  const RunFiles files = RunFiles::For("out", "CNNQtAdamW5");
  EXPECT_EQ(files.model, "out/torch_nn02CNNQtAdamW5.pt");
  EXPECT_EQ(files.log, "out/operation_CNNQtAdamW5.txt");
  EXPECT_EQ(files.error, "out/error_CNNQtAdamW5.pickle");
  EXPECT_EQ(files.metrics, "out/metrics_CNNQtAdamW5.jsonl");
  EXPECT_EQ(files.checkpoint, "out/checkpoint_CNNQtAdamW5.pt");
  EXPECT_EQ(RunFiles::For(".", "A1").model, "torch_nn02A1.pt");
  EXPECT_EQ(MetricsFileBeside("out/error_CNNQtAdamW5.pickle"), "out/metrics_CNNQtAdamW5.jsonl");
  EXPECT_EQ(MetricsFileBeside("out/losses.pickle"), "");
}

TEST(RunFilesTest, CheckpointsOfOtherEpochCounts) {
  const std::string dir = data::testing::MakeTempDir("run_files_checkpoints");
  for (const char* name : {"checkpoint_CNNQSGD2.pt", "checkpoint_CNNQSGD10.pt", "checkpoint_CNNQSGDx.pt",
                           "checkpoint_CNNQSGD.pt", "checkpoint_LeNetQSGD2.pt", "checkpoint_CNNQSGD2.pt.tmp.7"}) {
    ASSERT_TRUE(io::WriteFileAtomically(io::JoinPath(dir, name), "").ok());
  }
  EXPECT_THAT(CheckpointsOf(dir, "CNNQSGD"),
              ElementsAre(dir + "/checkpoint_CNNQSGD10.pt", dir + "/checkpoint_CNNQSGD2.pt"));
}

TEST(RunFilesTest, ASharedTensorBoardFolderNamesTheOutDir) {
  EXPECT_EQ(EventDir("", "out", "CNNSGD1"), "out/tensorboard/CNNSGD1");
  const std::string a = EventDir("tb", "runs/seed1", "CNNSGD1"), b = EventDir("tb", "runs/seed2", "CNNSGD1");
  EXPECT_THAT(a, ::testing::MatchesRegex("tb/CNNSGD1_[0-9a-f]{8}"));
  EXPECT_NE(a, b);
  EXPECT_EQ(a, EventDir("tb", "runs/./seed1", "CNNSGD1")) << "one folder, two spellings";
}

TEST(RunLockTest, OneProcessHoldsARunAndItsKilledPredecessorsTemporariesGo) {
  const std::string dir = data::testing::MakeTempDir("run_files_lock");
  const RunFiles files = RunFiles::For(dir, "CNNSGD1");
  const std::string stale = files.metrics + ".tmp.4242";
  ASSERT_TRUE(io::WriteFileAtomically(stale, "half a line").ok());
  auto lock = RunLock::Acquire(dir, "CNNSGD1", files.All());
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_THAT(std::string(RunLock::Acquire(dir, "CNNSGD1", files.All()).status().message()),
              HasSubstr("another process is writing run CNNSGD1 in " + dir));
  EXPECT_TRUE(RunLock::Acquire(dir, "CNNSGD2", {}).ok()) << "another run's lock is its own";
}

}  // namespace
}  // namespace qres::train
