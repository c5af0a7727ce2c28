// Train end to end on a tiny generated dataset: every net writes its outputs; a run interrupted
// mid-epoch and resumed ends with the same model, bit for bit, as an uninterrupted run.
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
#include "qres/train/model_file.h"
#include "qres/optim/cuda/emulator_backend.h"
#include "qres/optim/cuda/kernel_stepper.h"
#include "qres/optim/cuda_stepper.h"
#include "qres/optim/optimizer.h"
#include "qres/train/emulated_step_graph.h"
#include "qres/train/run_files.h"
#include "qres/train/trainer.h"

namespace qres::train {
namespace {

using ::testing::HasSubstr;

TrainConfig TinyRun(const std::string& name, const std::string& net, const std::string& algorithm) {
  static const std::string data_dir = [] {
    std::string dir = data::testing::MakeTempDir("tiny_mnist");
    data::testing::WriteMnist(dir, 200, 50, /*gzip=*/true);
    return dir;
  }();
  TrainConfig config;
  config.net = net;
  config.algorithm = algorithm;
  config.dataset = "MNIST";
  config.data_dir = data_dir;
  config.out_dir = data::testing::MakeTempDir(name);
  config.epochs = 2;
  config.batch_size = 32;
  if (net == "ResNet") config.net_params = "layers=1";
  config.lr = 0.01;
  if (algorithm.front() == 'Q') config.qp = 2;  // -qp is an error where no bump schedule reads it
  config.threads = 1;
  return config;
}

std::vector<std::pair<std::string, at::Tensor>> Parameters(const models::Net& net) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : net.named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : net.named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

std::shared_ptr<models::Net> LoadNet(const TrainConfig& config) {
  models::ModelSpec spec;
  spec.options = config.net_params;
  auto net = models::CreateModel(config.net, spec);
  EXPECT_TRUE(net.ok()) << net.status();
  const std::string path = io::JoinPath(config.out_dir, "torch_nn02" + RunName(config) + ".pt");
  absl::Status loaded = LoadModelFile(path, **net);
  EXPECT_TRUE(loaded.ok()) << loaded;
  return *net;
}

TEST(TrainE2eTest, EveryNetTrainsAndWritesTheSeedsFiles) {
  for (const std::string net : {"CNN", "LeNet", "ResNet"}) {
    TrainConfig config = TinyRun("e2e_" + net, net, "QtAdamW");
    ASSERT_TRUE(Train(config).ok()) << net;
    const std::string proc = RunName(config);
    EXPECT_EQ(proc, net + "QtAdamW2");
    auto losses = io::UnpickleFloatList(*io::ReadWholeFile(io::JoinPath(config.out_dir, "error_" + proc + ".pickle")), "error");
    ASSERT_TRUE(losses.ok()) << losses.status();
    EXPECT_EQ(losses->size(), 2u);
    auto metrics = io::ReadWholeFile(io::JoinPath(config.out_dir, "metrics_" + proc + ".jsonl"));
    ASSERT_TRUE(metrics.ok());
    EXPECT_EQ(std::count(metrics->begin(), metrics->end(), '\n'), 2);
    EXPECT_THAT(*metrics, HasSubstr("\"quant_index\": "));
    auto log = io::ReadWholeFile(io::JoinPath(config.out_dir, "operation_" + proc + ".txt"));
    ASSERT_TRUE(log.ok());
    EXPECT_THAT(*log, HasSubstr("[Epoch :    2] cost = "));
    EXPECT_THAT(*log, HasSubstr("QP Index: "));
    LoadNet(config);
  }
}

TEST(TrainE2eTest, ResumedRunEqualsUninterruptedRunBitForBit) {
  TrainConfig straight = TinyRun("e2e_straight", "ResNet", "QSGD");
  ASSERT_TRUE(Train(straight).ok());

  TrainConfig interrupted = TinyRun("e2e_interrupted", "ResNet", "QSGD");
  int polls = 0;  // 7 batches per epoch: stop before the 4th batch of epoch 2
  absl::Status stopped = Train(interrupted, [&] { return ++polls == 11; });
  ASSERT_EQ(stopped.code(), absl::StatusCode::kCancelled) << stopped;
  EXPECT_THAT(stopped.message(), HasSubstr("--resume"));
  interrupted.resume = true;
  ASSERT_TRUE(Train(interrupted).ok());

  auto a = Parameters(*LoadNet(straight));
  auto b = Parameters(*LoadNet(interrupted));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  }
  const std::string proc = RunName(straight);
  EXPECT_EQ(*io::ReadWholeFile(io::JoinPath(straight.out_dir, "error_" + proc + ".pickle")),
            *io::ReadWholeFile(io::JoinPath(interrupted.out_dir, "error_" + proc + ".pickle")));
}

// bf16 (autocast, channels-last on the CPU) resumes bit-identically too, for every net, and
// trains: its loss falls as fp32's does.
TEST(TrainE2eTest, Bf16RunsResumeBitForBit) {
  for (const std::string net : {"CNN", "LeNet", "ResNet"}) {
    TrainConfig straight = TinyRun("e2e_bf16_straight_" + net, net, "QtAdamW");
    straight.precision = Precision::kBf16;
    ASSERT_TRUE(Train(straight).ok()) << net;
    TrainConfig interrupted = TinyRun("e2e_bf16_interrupted_" + net, net, "QtAdamW");
    interrupted.precision = Precision::kBf16;
    int polls = 0;  // 7 batches per epoch: stop before the 4th batch of epoch 2
    ASSERT_EQ(Train(interrupted, [&] { return ++polls == 11; }).code(), absl::StatusCode::kCancelled) << net;
    interrupted.resume = true;
    ASSERT_TRUE(Train(interrupted).ok()) << net;
    auto a = Parameters(*LoadNet(straight));
    auto b = Parameters(*LoadNet(interrupted));
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << net << " " << a[i].first;
    const std::string proc = RunName(straight);
    const auto losses = io::UnpickleFloatList(*io::ReadWholeFile(io::JoinPath(straight.out_dir, "error_" + proc + ".pickle")), "error");
    ASSERT_TRUE(losses.ok() && losses->size() == 2u);
    EXPECT_LT((*losses)[1], (*losses)[0]) << net;
    auto log = io::ReadWholeFile(io::JoinPath(straight.out_dir, "operation_" + proc + ".txt"));
    EXPECT_THAT(*log, HasSubstr("Precision           : bf16 autocast"));
  }
}

// Runs with --cuda_graphs=on, over the CPU stand-in of a CUDA graph (emulated_step_graph.h), end
// with the same model and losses as runs without: each full batch reaches the captured inputs, the
// partial last batch of each epoch runs as it is, the host reads the captured loss, the epoch sums
// are the ones the graph adds to, and the gradients zeroed in place (under a graph) train as those
// set to none. With the fused CUDA step (its kernels in the SIMT emulator) the optimizer step is
// in the graph: one capture serves both epochs, across the quantizer's state read back at the
// first epoch's end. A graphed run interrupted and resumed (a new graph in the new process) ends
// as one that was not.
TEST(TrainE2eTest, GraphedRunsEqualUngraphedRunsBitForBit) {
  RegisterEmulatedStepGraph();
  optim::RegisterCudaStepper([]() -> std::unique_ptr<optim::CudaStepper> {
    return std::make_unique<optim::KernelStepper>(optim::MakeEmulatedBackend());
  });
  struct Case {
    std::string net, algorithm, quant_params;
    Precision precision;
    bool fused_cuda_step;  // the emulated CUDA step, in the graph; else the CPU loops, outside it
  };
  for (const Case& c : {Case{"CNN", "QtAdamW", "", Precision::kFp32, true},
                        Case{"ResNet", "QSGD", "", Precision::kFp32, true},
                        Case{"CNN", "QtAdam", "schedule=log", Precision::kFp32, true},
                        Case{"CNN", "QtAdamW", "", Precision::kFp32, false},
                        Case{"LeNet", "AdamW", "", Precision::kBf16, false}}) {
    const std::string name = c.net + c.algorithm + (c.fused_cuda_step ? "_in_graph" : "");
    auto make = [&](const std::string& run, CudaGraphs graphs) {
      TrainConfig config = TinyRun("e2e_graphs_" + run + "_" + name, c.net, c.algorithm);
      config.quant_params = c.quant_params;
      if (!c.quant_params.empty()) config.qp.reset();
      config.precision = c.precision;
      config.cuda_graphs = graphs;
      return config;
    };
    auto train = [&](const TrainConfig& config, const std::function<bool()>& stop = {}) {
      optim::SetFusedCudaPathForCpuTensors(c.fused_cuda_step && config.cuda_graphs == CudaGraphs::kOn);
      absl::Status status = Train(config, stop);
      optim::SetFusedCudaPathForCpuTensors(false);
      return status;
    };
    const TrainConfig eager = make("eager", CudaGraphs::kOff);
    ASSERT_TRUE(train(eager).ok()) << name;
    const TrainConfig graphed = make("graphed", CudaGraphs::kOn);
    const EmulatedStepGraphCounts before = EmulatedStepGraphCountsSoFar();
    ASSERT_TRUE(train(graphed).ok()) << name;
    // 7 batches per epoch, the last partial: 3 warm, 1 captured, 2 + 6 replayed.
    EXPECT_EQ(EmulatedStepGraphCountsSoFar().captures - before.captures, 1) << name;
    EXPECT_EQ(EmulatedStepGraphCountsSoFar().replays - before.replays, 8) << name;
    TrainConfig resumed = make("resumed", CudaGraphs::kOn);
    int polls = 0;  // stop before the 4th batch of epoch 2
    ASSERT_EQ(train(resumed, [&] { return ++polls == 11; }).code(), absl::StatusCode::kCancelled) << name;
    resumed.resume = true;
    ASSERT_TRUE(train(resumed).ok()) << name;

    const auto expected = Parameters(*LoadNet(eager));
    const std::string proc = RunName(eager);
    const auto file = [&](const TrainConfig& config, const std::string& prefix) {
      return *io::ReadWholeFile(io::JoinPath(config.out_dir, prefix + proc + ".pickle"));
    };
    for (const TrainConfig* run : {&graphed, static_cast<const TrainConfig*>(&resumed)}) {
      const auto actual = Parameters(*LoadNet(*run));
      ASSERT_EQ(actual.size(), expected.size());
      for (size_t i = 0; i < actual.size(); ++i) {
        EXPECT_TRUE(at::equal(actual[i].second, expected[i].second)) << name << " " << actual[i].first;
      }
      EXPECT_EQ(file(*run, "error_"), file(eager, "error_")) << name;
    }
    auto log = io::ReadWholeFile(io::JoinPath(graphed.out_dir, "operation_" + proc + ".txt"));
    EXPECT_THAT(*log, HasSubstr("graph replays 2, captures 1")) << name;  // epoch 1
    EXPECT_THAT(*log, HasSubstr("graph replays 6, captures 0")) << name;  // epoch 2
    EXPECT_THAT(*log, HasSubstr(c.fused_cuda_step ? "replayed from one graph (after 3 run as they are): forward, "
                                                    "backward and the optimizer step"
                                                  : "the optimizer step outside it (not the fused CUDA step)"))
        << name;
  }
}

TEST(TrainE2eTest, CudaGraphsOnWithRanksIsAnError) {
  RegisterEmulatedStepGraph();
  TrainConfig config = TinyRun("e2e_graphs_ranks", "CNN", "QtAdamW");
  config.cuda_graphs = CudaGraphs::kOn;
  config.ranks = dist::Environment{0, 2, 0, 2, "127.0.0.1", 1, false};
  EXPECT_THAT(Train(config).message(), HasSubstr("--cuda_graphs=on does not work with data-parallel ranks"));
  EXPECT_FALSE(std::filesystem::exists(io::JoinPath(config.out_dir, "operation_" + RunName(config) + ".txt")));
}

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

// The lr of every step comes from the schedule: per epoch (after the epoch's batches) or per
// batch; the metrics record the lr each epoch ended with, and an interrupted run resumes the
// schedule where it stopped, bit for bit.
TEST(TrainE2eTest, SchedulesSetTheLrAndResumeBitForBit) {
  auto metrics_lrs = [](const TrainConfig& config) {
    const std::string text = *io::ReadWholeFile(io::JoinPath(config.out_dir, "metrics_" + RunName(config) + ".jsonl"));
    std::vector<double> lrs;
    for (size_t at = text.find("\"lr\": "); at != std::string::npos; at = text.find("\"lr\": ", at + 1)) {
      lrs.push_back(std::stod(text.substr(at + 6)));
    }
    return lrs;
  };
  TrainConfig per_epoch = TinyRun("e2e_sched_epoch", "CNN", "QtAdamW");
  per_epoch.scheduler = "exp";
  per_epoch.scheduler_params = "gamma=0.5";
  ASSERT_TRUE(Train(per_epoch).ok());
  EXPECT_THAT(metrics_lrs(per_epoch), ::testing::ElementsAre(0.01, 0.005));
  EXPECT_THAT(*io::ReadWholeFile(io::JoinPath(per_epoch.out_dir, "operation_" + RunName(per_epoch) + ".txt")),
              HasSubstr("Learning Schedule   : exp (gamma=0.5), stepped per epoch, first lr 0.01"));

  TrainConfig straight = TinyRun("e2e_sched_straight", "ResNet", "QSGD");
  straight.scheduler = "OneCycleLR";
  straight.schedule_per_batch = true;  // 7 batches per epoch, 14 steps
  ASSERT_TRUE(Train(straight).ok());
  const std::vector<double> lrs = metrics_lrs(straight);
  ASSERT_EQ(lrs.size(), 2u);
  EXPECT_GT(lrs[0], 0.01 / 25 * 1.5);  // near the peak at step 3 of 14, well above the start
  EXPECT_LT(lrs[1], 0.01 / 25);        // the last step: almost down to lr/25/1e4

  TrainConfig interrupted = straight;
  interrupted.out_dir = data::testing::MakeTempDir("e2e_sched_interrupted");
  int polls = 0;
  ASSERT_EQ(Train(interrupted, [&] { return ++polls == 11; }).code(), absl::StatusCode::kCancelled);
  interrupted.resume = true;
  TrainConfig other = interrupted;
  other.scheduler_params = "pct_start=0.5";
  EXPECT_THAT(Train(other).message(),
              HasSubstr("was made with --scheduler_params=, this run has --scheduler_params=pct_start=0.5"));
  ASSERT_TRUE(Train(interrupted).ok());
  EXPECT_EQ(metrics_lrs(interrupted), lrs);
  auto a = Parameters(*LoadNet(straight));
  auto b = Parameters(*LoadNet(interrupted));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
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
  EXPECT_THAT(std::string(status.message()), HasSubstr("the run diverged with --algo=SGD --lr=1e+30: try a smaller --lr or other options"));
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
  EXPECT_THAT(std::string(Train(config).message()),
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

TEST(TrainE2eTest, AFinishedRunContinuedForMoreEpochsEqualsALongerRunBitForBit) {
  TrainConfig straight = TinyRun("e2e_longer", "CNN", "QSGD");
  straight.epochs = 3;
  ASSERT_TRUE(Train(straight).ok());

  TrainConfig shorter = TinyRun("e2e_continued", "CNN", "QSGD");  // 2 epochs
  ASSERT_TRUE(Train(shorter).ok());
  const std::string checkpoint = io::JoinPath(shorter.out_dir, "checkpoint_CNNQSGD2.pt");
  TrainConfig continued = shorter;
  continued.epochs = 3;
  continued.resume_from = checkpoint;
  ASSERT_TRUE(Train(continued).ok());

  auto a = Parameters(*LoadNet(straight));
  auto b = Parameters(*LoadNet(continued));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
  // The outputs carry the whole history under the new name; the 2-epoch run's files stay.
  EXPECT_EQ(*io::ReadWholeFile(io::JoinPath(straight.out_dir, "error_CNNQSGD3.pickle")),
            *io::ReadWholeFile(io::JoinPath(continued.out_dir, "error_CNNQSGD3.pickle")));
  EXPECT_THAT(*io::ReadWholeFile(io::JoinPath(continued.out_dir, "operation_CNNQSGD3.txt")),
              HasSubstr("Resumed from " + checkpoint + " at epoch 3, batch 0"));
  EXPECT_TRUE(std::filesystem::exists(io::JoinPath(shorter.out_dir, "torch_nn02CNNQSGD2.pt")));

  // The checkpoint's settings are checked as for --resume; it must have epochs left to train.
  TrainConfig other = continued;
  other.overwrite = true;
  other.lr = 0.02;
  EXPECT_THAT(std::string(Train(other).message()),
              HasSubstr(checkpoint + " was made with --lr=0.01, this run has --lr=0.02"));
  other = continued;
  other.overwrite = true;
  other.epochs = 2;
  other.resume_from = io::JoinPath(continued.out_dir, "checkpoint_CNNQSGD3.pt");
  EXPECT_THAT(std::string(Train(other).message()),
              HasSubstr("--resume_from=" + other.resume_from + " has trained 3 epochs already; --epochs=2 must be more"));
  other.resume_from = checkpoint + ".missing";
  EXPECT_THAT(std::string(Train(other).message()),
              HasSubstr("--resume_from=" + other.resume_from + ": No such file or directory"));
  // None of these errors removed a file, --overwrite or not.
  for (const std::string proc : {"CNNQSGD2", "CNNQSGD3"}) {
    EXPECT_TRUE(std::filesystem::exists(io::JoinPath(continued.out_dir, "torch_nn02" + proc + ".pt"))) << proc;
  }
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
