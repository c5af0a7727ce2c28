// Run and sweep file names read back to their run, and sweep.json read back to what was written.
#include "qres/io/run_layout.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace qres::io::run_layout {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RunLayoutTest, FileNamesReadBackToTheirRun) {
  EXPECT_EQ(CheckpointFile("out", "CNNQtAdamW5"), "out/checkpoint_CNNQtAdamW5.pt");
  EXPECT_EQ(ModelFile("", "CNNSGD2"), "torch_nn02CNNSGD2.pt");
  EXPECT_EQ(FileOf(FileKind::kErrorTrend, "a/", "CNNSGD2"), "a/error_CNNSGD2.pickle");
  for (const FileKind kind :
       {FileKind::kModel, FileKind::kOperationLog, FileKind::kErrorTrend, FileKind::kMetrics, FileKind::kCheckpoint}) {
    const std::string path = FileOf(kind, "", "ResNetQSGD20");
    EXPECT_EQ(RunOfFile(kind, path), "ResNetQSGD20") << path;
  }
  EXPECT_EQ(RunOfFile(FileKind::kMetrics, "metrics_.jsonl"), "");
  EXPECT_EQ(RunOfFile(FileKind::kMetrics, "checkpoint_CNNSGD1.pt"), "");
  EXPECT_EQ(RunOfFile(FileKind::kCheckpoint, "checkpoint_CNNSGD1.pt.tmp.42"), "");
}

TEST(RunLayoutTest, SweepStatusReadsBackWhatWasWritten) {
  SweepStatus status{"lr=0.1,seed=1", "finished", 0, 12.5, {"--lr=0.1", "--seed=1", "-d", "a \"quoted\" \\ path\t"}};
  const std::string json = SweepStatusJson(status);
  EXPECT_EQ(json.back(), '\n');
  absl::StatusOr<SweepStatus> read = ParseSweepStatus(json, "sweep.json");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->run, status.run);
  EXPECT_EQ(read->status, "finished");
  EXPECT_EQ(read->exit_code, 0);
  EXPECT_EQ(read->seconds, 12.5);
  EXPECT_THAT(read->flags, ElementsAre("--lr=0.1", "--seed=1", "-d", "a \"quoted\" \\ path\t"));
  // An older sweep's line (no flags) still reads.
  EXPECT_TRUE(ParseSweepStatus(R"({"run": "x", "status": "started", "exit": 0, "seconds": 0.0})", "s").ok());
  for (const std::string bad : {"", "{", "[1]", R"({"run": "x"})", R"({"run": "x", "status": "ok", "extra": 1})",
                                R"({"run": "x", "status": "ok"} trailing)"}) {
    EXPECT_THAT(std::string(ParseSweepStatus(bad, "d/sweep.json").status().message()),
                HasSubstr("d/sweep.json: not a sweep's status"))
        << bad;
  }
}

}  // namespace
}  // namespace qres::io::run_layout
