// Train end to end on a tiny generated dataset: every net writes its outputs; a run interrupted
// mid-epoch and resumed ends with the same model, bit for bit, as an uninterrupted run (fp32, bf16,
// CUDA graphs, schedules, more epochs). Its settings and folders: train_e2e_outputs_test.cc.
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

TEST(TrainE2eTest, EveryNetTrainsAndWritesTheSeedsFiles) {
  for (const std::string net : {"CNN", "LeNet", "ResNet"}) {
    TrainConfig config = TinyRun("e2e_" + net, net, "QtAdamW");
    ASSERT_TRUE(Train(config).ok()) << net;
    const std::string proc = RunName(config);
    EXPECT_EQ(proc, net + "QtAdamW2");
    auto losses =
        io::UnpickleFloatList(*io::ReadWholeFile(io::JoinPath(config.out_dir, "error_" + proc + ".pickle")), "error");
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
    const auto losses =
        io::UnpickleFloatList(*io::ReadWholeFile(io::JoinPath(straight.out_dir, "error_" + proc + ".pickle")), "error");
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
  for (const Case& c :
       {Case{"CNN", "QtAdamW", "", Precision::kFp32, true}, Case{"ResNet", "QSGD", "", Precision::kFp32, true},
        Case{"CNN", "QtAdam", "schedule=log", Precision::kFp32, true},
        Case{"CNN", "QtAdamW", "", Precision::kFp32, false}, Case{"LeNet", "AdamW", "", Precision::kBf16, false}}) {
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
  EXPECT_THAT(std::string(Train(other).message()), HasSubstr("--resume_from=" + other.resume_from +
                                                             " has trained 3 epochs already; --epochs=2 must be more"));
  other.resume_from = checkpoint + ".missing";
  EXPECT_THAT(std::string(Train(other).message()),
              HasSubstr("--resume_from=" + other.resume_from + ": No such file or directory"));
  // None of these errors removed a file, --overwrite or not.
  for (const std::string proc : {"CNNQSGD2", "CNNQSGD3"}) {
    EXPECT_TRUE(std::filesystem::exists(io::JoinPath(continued.out_dir, "torch_nn02" + proc + ".pt"))) << proc;
  }
}

}  // namespace
}  // namespace qres::train
