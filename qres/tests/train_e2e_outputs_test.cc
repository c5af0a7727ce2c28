// Train end to end on a tiny generated dataset, its settings and folders: bad configurations are
// one-line errors, a run's outputs are one set, and resuming checks the checkpoint it continues.
// Training itself and bit-for-bit resumes: train_e2e_test.cc.
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "ATen/ops/equal.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "qres/data/test_files.h"
#include "qres/io/files.h"
#include "qres/io/pickle.h"
#include "qres/optim/cuda/emulator_backend.h"
#include "qres/optim/cuda/kernel_stepper.h"
#include "qres/optim/cuda_stepper.h"
#include "qres/optim/optimizer.h"
#include "qres/tests/tiny_run.h"
#include "qres/train/emulated_step_graph.h"
#include "qres/train/model_file.h"
#include "qres/train/run_files.h"
#include "qres/train/trainer.h"

namespace qres::train {
namespace {

using ::testing::HasSubstr;
using testing::LoadNet;
using testing::Parameters;
using testing::TinyRun;

TEST(TrainE2eTest, CreatesAMissingOutputDirectory) {
  TrainConfig config = TinyRun("e2e_new_dir", "CNN", "SGD");
  config.out_dir = io::JoinPath(io::JoinPath(config.out_dir, "new"), "nested");
  config.epochs = 1;
  ASSERT_TRUE(Train(config).ok());
  EXPECT_TRUE(LoadNet(config) != nullptr);
}

TEST(TrainE2eTest, BadConfigurationsAreOneLineErrors) {
  TrainConfig config = TinyRun("e2e_bad", "CNN", "QtAdamW");
  config.algorithm = "Lion";
  EXPECT_THAT(Train(config).message(), HasSubstr("unknown algorithm 'Lion'; registered:"));
  config = TinyRun("e2e_bad", "VGG", "QtAdamW");
  EXPECT_THAT(Train(config).message(), HasSubstr("unknown net 'VGG'"));
  config = TinyRun("e2e_bad", "CNN", "QtAdamW");
  config.data_dir = "/nonexistent";
  EXPECT_THAT(Train(config).message(), HasSubstr("/nonexistent: no train-images-idx3-ubyte"));
  config = TinyRun("e2e_bad", "CNN", "QtAdamW");
  const std::string file = io::JoinPath(config.out_dir, "a_file");
  ASSERT_TRUE(io::WriteFileAtomically(file, "").ok());
  config.out_dir = file;
  EXPECT_THAT(Train(config).message(), HasSubstr("--out_dir=" + file + ": not a directory"));
  config.out_dir = io::JoinPath(file, "out");
  EXPECT_THAT(Train(config).message(), HasSubstr("--out_dir=" + config.out_dir + ": cannot create it: "));
  config = TinyRun("e2e_bad", "CNN", "Lion");  // a missing --out_dir is made only for a good run
  config.out_dir = io::JoinPath(config.out_dir, "never");
  EXPECT_FALSE(Train(config).ok());
  EXPECT_FALSE(std::filesystem::exists(config.out_dir));
  config = TinyRun("e2e_bad", "CNN", "QtAdamW");
  config.quant_params = "rounding=up";
  EXPECT_THAT(Train(config).message(), HasSubstr("key 'rounding' has value 'up'"));
  config = TinyRun("e2e_bad", "CNN", "QtAdamW");
  config.scheduler = "Cosine";
  EXPECT_THAT(Train(config).message(), HasSubstr("unknown scheduler 'Cosine'; registered:"));
  config.scheduler = "StepLR";
  config.scheduler_params = "step=3";
  EXPECT_THAT(Train(config).message(), HasSubstr("--scheduler_params: unknown key 'step'"));
}

TEST(TrainE2eTest, SettingsThatWouldBeIgnoredAreErrors) {
  TrainConfig config = TinyRun("e2e_ignored", "CNN", "AdamW");
  config.qp = 3;
  EXPECT_THAT(Train(config).message(), HasSubstr("-qp 3 has no effect: only the bump schedule"));
  config = TinyRun("e2e_ignored", "CNN", "QtAdamW");
  config.quant_params = "schedule=log";
  EXPECT_THAT(Train(config).message(), HasSubstr("-qp 2 has no effect"));
  config.qp.reset();
  config.quant_params = "eta=32";
  EXPECT_THAT(Train(config).message(),
              HasSubstr("--quant_params: eta is an option of schedule=log, not of schedule=bump"));
  config.quant_params = "schedule=log,index_limit=30";
  EXPECT_THAT(Train(config).message(), HasSubstr("index_limit is an option of schedule=bump, not of schedule=log"));
  config.quant_params = "schedule=none,rounding=floor";
  EXPECT_THAT(Train(config).message(), HasSubstr("rounding has no effect with schedule=none"));
  config = TinyRun("e2e_ignored", "CNN", "SGD");
  config.lr = std::numeric_limits<double>::infinity();
  EXPECT_THAT(Train(config).message(), HasSubstr("--lr=inf must be a finite number >= 0"));
}

TEST(TrainE2eTest, ADivergedRunStopsWithOneLineAndWritesNoModel) {
  TrainConfig config = TinyRun("e2e_diverged", "CNN", "SGD");
  config.lr = 1e30;
  const absl::Status status = Train(config);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("epoch 1: the mean training loss is "));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("the run diverged with --algo=SGD --lr=1e+30: try a smaller --lr or other options"));
  EXPECT_THAT(std::string(status.message()), ::testing::Not(HasSubstr("\n")));
  const std::string proc = RunName(config);
  EXPECT_FALSE(std::filesystem::exists(io::JoinPath(config.out_dir, "torch_nn02" + proc + ".pt")));
  EXPECT_FALSE(std::filesystem::exists(io::JoinPath(config.out_dir, "metrics_" + proc + ".jsonl")));
  auto log = io::ReadWholeFile(io::JoinPath(config.out_dir, "operation_" + proc + ".txt"));
  ASSERT_TRUE(log.ok());
  EXPECT_THAT(*log, HasSubstr("the run diverged"));
}

TEST(TrainE2eTest, ARunsOutputsAreOneSet) {
  TrainConfig config = TinyRun("e2e_output_set", "CNN", "SGD");
  config.epochs = 1;
  const std::string proc = RunName(config);
  const std::string stale = io::JoinPath(config.out_dir, "metrics_" + proc + ".jsonl.tmp.4242");
  ASSERT_TRUE(io::WriteFileAtomically(stale, "half a line").ok());  // as a killed run leaves it
  ASSERT_TRUE(Train(config).ok());
  EXPECT_FALSE(std::filesystem::exists(stale));

  // A second run of the same name is refused, and leaves the first one's files as they were.
  const std::string model = io::JoinPath(config.out_dir, "torch_nn02" + proc + ".pt");
  const std::string first_model = *io::ReadWholeFile(model);
  config.lr = 0.05;
  const absl::Status again = Train(config);
  EXPECT_THAT(std::string(again.message()), HasSubstr("--out_dir=" + config.out_dir + " already holds run " + proc));
  EXPECT_THAT(std::string(again.message()), HasSubstr("give --resume to continue it, --overwrite to replace it"));
  EXPECT_EQ(*io::ReadWholeFile(model), first_model);
  config.overwrite = true;
  ASSERT_TRUE(Train(config).ok());
  EXPECT_NE(*io::ReadWholeFile(model), first_model);

  // While a process holds the run, another is refused.
  auto lock = RunLock::Acquire(config.out_dir, proc, {});
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_THAT(std::string(Train(config).message()), HasSubstr("another process is writing run " + proc));
}

// Each state of a run's folder has one story, told alike by a plain start and by --resume.
TEST(TrainE2eTest, AFolderWithoutTheRunsCheckpointSaysTheSameToStartAndResume) {
  TrainConfig config = TinyRun("e2e_no_checkpoint", "CNN", "SGD");
  config.epochs = 1;
  const std::string proc = RunName(config);
  ASSERT_TRUE(Train(config).ok());
  const std::string checkpoint = io::JoinPath(config.out_dir, "checkpoint_" + proc + ".pt");
  ASSERT_EQ(std::remove(checkpoint.c_str()), 0);  // as a run stopped before its first checkpoint leaves it
  EXPECT_THAT(
      std::string(Train(config).message()),
      HasSubstr("but no checkpoint to continue from); give --overwrite to start it again, or another --out_dir"));
  TrainConfig resume = config;
  resume.resume = true;
  EXPECT_THAT(std::string(Train(resume).message()),
              HasSubstr("--resume: run " + proc + " in " + config.out_dir + " has no checkpoint to continue from"));
  EXPECT_THAT(std::string(Train(resume).message()), HasSubstr("start it again with --overwrite instead of --resume"));
  // A folder where the checkpoint goes: no --resume_from= that folder, but what stands there.
  ASSERT_EQ(mkdir(checkpoint.c_str(), 0755), 0);
  EXPECT_THAT(std::string(Train(resume).message()),
              HasSubstr("--resume: " + checkpoint + " is not a file (a folder or device stands where run " + proc +
                        "'s checkpoint goes)"));
  EXPECT_THAT(std::string(Train(config).message()), HasSubstr(checkpoint + ": a folder stands where the run writes"));
}

// Flips one bit in the middle of `path` (inside the largest tensor of a model or checkpoint).
void FlipAByte(const std::string& path) {
  std::string bytes = *io::ReadWholeFile(path);
  bytes[bytes.size() / 2] ^= 0x10;
  ASSERT_TRUE(io::WriteFileAtomically(path, bytes).ok());
}

TEST(TrainE2eTest, ResumeChecksTheCheckpointAndTheRunsSettings) {
  TrainConfig config = TinyRun("e2e_resume_checks", "CNN", "QtAdamW");
  int polls = 0;
  ASSERT_EQ(Train(config, [&] { return ++polls == 3; }).code(), absl::StatusCode::kCancelled);
  config.resume = true;
  const std::string checkpoint = io::JoinPath(config.out_dir, "checkpoint_" + RunName(config) + ".pt");
  TrainConfig other = config;
  other.lr = 0.02;
  EXPECT_THAT(Train(other).message(),
              HasSubstr(checkpoint + " was made with --lr=0.01, this run has --lr=0.02; resume with the run's own"));
  other = config;
  other.batch_size = 16;
  EXPECT_THAT(Train(other).message(), HasSubstr("was made with --batch_size=32, this run has --batch_size=16"));
  other = config;
  other.precision = Precision::kBf16;
  EXPECT_THAT(Train(other).message(), HasSubstr("was made with --precision=fp32, this run has --precision=bf16"));
  other = config;
  other.quant_params = "rounding=floor";
  EXPECT_THAT(Train(other).message(),
              HasSubstr("was made with --quant_params=, this run has --quant_params=rounding=floor"));

  const std::string good = *io::ReadWholeFile(checkpoint);
  FlipAByte(checkpoint);
  const absl::Status damaged = Train(config);
  EXPECT_EQ(damaged.code(), absl::StatusCode::kDataLoss) << damaged;
  EXPECT_THAT(std::string(damaged.message()), HasSubstr("checkpoint " + checkpoint + ": record '"));
  EXPECT_THAT(std::string(damaged.message()), HasSubstr("is damaged (its CRC-32 does not match"));
  ASSERT_TRUE(io::WriteFileAtomically(checkpoint, good.substr(0, good.size() - 100)).ok());
  EXPECT_THAT(Train(config).message(), HasSubstr("not a zip archive (no directory at its end: cut off?)"));
  ASSERT_TRUE(io::WriteFileAtomically(checkpoint, good).ok());
  EXPECT_TRUE(Train(config).ok());
}

TEST(TrainE2eTest, ResumeWithoutTheRunsCheckpointIsAnErrorThatNamesTheOthers) {
  TrainConfig config = TinyRun("e2e_resume_missing", "CNN", "QtAdamW");
  config.resume = true;
  const std::string missing = io::JoinPath(config.out_dir, "checkpoint_CNNQtAdamW2.pt");
  EXPECT_THAT(std::string(Train(config).message()),
              HasSubstr("--resume: no checkpoint " + missing + " for run CNNQtAdamW2; start it without --resume"));
  EXPECT_FALSE(std::filesystem::exists(io::JoinPath(config.out_dir, "torch_nn02CNNQtAdamW2.pt")));

  // A finished 2-epoch run, then --resume with --epochs=3: the run's name (CNNQtAdamW3) differs.
  config.resume = false;
  ASSERT_TRUE(Train(config).ok());
  TrainConfig more = config;
  more.resume = true;
  more.epochs = 3;
  const absl::Status status = Train(more);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("--resume: no checkpoint " + io::JoinPath(config.out_dir, "checkpoint_CNNQtAdamW3.pt") +
                        " for run CNNQtAdamW3; " + config.out_dir + " holds " + missing +
                        ": continue one for more epochs with --resume_from=" + missing + " --epochs=3"));
  EXPECT_FALSE(std::filesystem::exists(io::JoinPath(config.out_dir, "metrics_CNNQtAdamW3.jsonl")));
}

TEST(ModelFileTest, MismatchedOrCorruptFilesAreClearErrors) {
  TrainConfig config = TinyRun("e2e_model_file", "CNN", "Adam");
  config.epochs = 1;
  ASSERT_TRUE(Train(config).ok());
  const std::string path = io::JoinPath(config.out_dir, "torch_nn02" + RunName(config) + ".pt");
  models::ModelSpec spec;
  auto lenet = models::CreateModel("LeNet", spec);
  EXPECT_THAT(std::string(LoadModelFile(path, **lenet).message()),
              HasSubstr("'conv1.weight' is [32, 1, 3, 3] but net LeNet has [6, 1, 5, 5]"));
  models::ModelSpec one_block;
  one_block.options = "layers=1";
  auto resnet = models::CreateModel("ResNet", one_block);
  EXPECT_THAT(std::string(LoadModelFile(path, **resnet).message()), HasSubstr("has no tensor 'conv.weight'"));
  spec.classes = 100;
  auto wide = models::CreateModel("CNN", spec);
  EXPECT_THAT(std::string(LoadModelFile(path, **wide).message()),
              HasSubstr("'fc.weight' is [10, 3136] but net CNN has [100, 3136]"));
  EXPECT_THAT(std::string(LoadModelFile(path + ".missing", **wide).message()), HasSubstr("cannot open"));
  auto cnn = models::CreateModel("CNN", models::ModelSpec{});
  ASSERT_TRUE(LoadModelFile(path, **cnn).ok());
  FlipAByte(path);
  EXPECT_THAT(std::string(LoadModelFile(path, **cnn).message()), HasSubstr("is damaged (its CRC-32 does not match"));
  ASSERT_TRUE(io::WriteFileAtomically(path, "not a model").ok());
  EXPECT_THAT(std::string(LoadModelFile(path, **wide).message()), HasSubstr("not a model file"));
}

}  // namespace
}  // namespace qres::train
