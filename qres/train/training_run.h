// The trainer's insides (//qres/train:trainer only): one training run in named phases, whose
// methods live in trainer.cc (the loop) and training_run_setup.cc (everything before it).
#ifndef QRES_TRAIN_TRAINING_RUN_H_
#define QRES_TRAIN_TRAINING_RUN_H_

#include <chrono>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "c10/core/Device.h"
#include "qres/data/batches.h"
#include "qres/data/dataset.h"
#include "qres/dist/data_parallel.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/sched/scheduler.h"
#include "qres/train/checkpoint.h"
#include "qres/train/evaluation.h"
#include "qres/train/grad_scaler.h"
#include "qres/train/precision.h"
#include "qres/train/run_files.h"
#include "qres/train/run_outputs.h"
#include "qres/train/sinks.h"
#include "qres/train/step_graph.h"
#include "qres/train/train_config.h"
#include "torch/optim/optimizer.h"

namespace qres::train {

// Prints to stdout and keeps every line for the operation log. A closed stdout (train ... | head,
// with SIGPIPE ignored: qres/tools/cli.h) stops the printing, not the run: its files say the rest.
class Reporter {
 public:
  void Line(const std::string& line) {
    if (!silent_) {
      std::cout << prefix_ << line << std::endl;
      if (!std::cout) {
        silent_ = true;
        std::cerr << "train: standard output is closed; the run goes on without printing (its files have every "
                     "line)"
                  << std::endl;
      }
    }
    text_ += line + "\n";
  }
  void set_silent(bool silent) { silent_ = silent; }                    // a data-parallel run's other ranks
  void set_prefix(std::string prefix) { prefix_ = std::move(prefix); }  // of printed lines only
  const std::string& text() const { return text_; }
  void set_text(std::string text) { text_ = std::move(text); }

 private:
  bool silent_ = false;
  std::string prefix_;
  std::string text_;
};

// One training run in named phases, where ranks, schedules and metric sinks join:
//   SetUp       check the configuration, load the data, build the net and the optimizer, load
//               and check a checkpoint to resume, claim the outputs, write the header
//   TrainEpoch  the rest of the current epoch's batches (stops at a batch when asked)
//   EndEpoch    evaluation, the epoch's line and metrics, the checkpoint
//   Finish      the final evaluation and the model file
class TrainingRun {
 public:
  explicit TrainingRun(TrainConfig config) : config_(std::move(config)) {}

  absl::Status SetUp();
  absl::Status Run(const std::function<bool()>& should_stop);

 private:
  absl::Status LoadData();
  absl::Status BuildNetAndOptimizer();
  absl::Status ClaimOutputs();
  // Loads the checkpoint the run continues from into the net, optimizer, schedule and position,
  // after checking it.
  absl::Status LoadResumedCheckpoint();
  // Ranks started with other settings, data or resumed checkpoints are an error on every rank.
  absl::Status CheckRanksAgree();
  // The header of a fresh run, or the resumed run's log and its "Resumed from" line.
  void StartReport();
  void ReportHeader();
  // The epoch's training seconds (with those before an interruption); Cancelled, after writing a
  // checkpoint, when `should_stop` says so before a batch.
  absl::StatusOr<double> TrainEpoch(const std::function<bool()>& should_stop);
  absl::Status EndEpoch(double epoch_seconds);
  // One batch slice's device work: zero_grad, forward and loss (under autocast), the epoch's
  // device-side sums, backward (of the scaled loss under fp16). Returns the detached loss
  // (undefined for an empty slice). What GraphedStep captures.
  at::Tensor ForwardBackward(const at::Tensor& images, const at::Tensor& labels, const dist::BatchSlice& slice);
  // --cuda_graphs: whether this run replays its steps from a graph (an error for "on" where it
  // cannot).
  absl::StatusOr<bool> UseCudaGraphs() const;
  absl::Status Finish();
  // Every parameter group trains with `lr` from the next step on.
  void SetLr(double lr);
  // The progress bar (config_.progress) and TensorBoard (rank 0; a fresh run first removes the
  // event files an earlier run of its name left).
  void OpenSinks();
  std::optional<double> QuantIndex();
  // Data-parallel runs (config_.ranks): joins the ranks and makes rank 0's initial weights
  // everyone's; the other ranks print nothing and write no file.
  absl::Status JoinRanks();
  // BatchNorm running statistics averaged over the ranks, before an evaluation and the
  // checkpoint, and the replica check (DataParallel::SyncBuffersAndCheck).
  absl::Status SynchronizeBuffersAndCheck();
  bool Lead() const { return ranks_->lead(); }
  // The test set's evaluation; on ranks, each evaluates its share of the batches and the counts are
  // summed (in the reference's train-mode evaluation every rank runs every batch, so the BatchNorm
  // statistics it updates stay the same on all ranks).
  absl::StatusOr<Evaluation> EvaluateTestSet();
  // The loss scaler's state into position_, for the checkpoint (device reads: at an epoch's end or
  // a stop).
  void KeepScalerInPosition();
  // Under bf16 on the CPU the batches (training and test) are made channels-last: oneDNN's bf16
  // convolutions are about 2x faster so (docs/BENCHMARKS.md); fp32 keeps its bits (ResNet is
  // channels-last on the CPU in every precision, by itself).
  bool ChannelsLast() const { return config_.precision == Precision::kBf16 && device_.is_cpu(); }
  // Whether the lr may change during the run (the log and epoch lines then show it).
  bool LrIsScheduled() const {
    return absl::AsciiStrToLower(config_.scheduler) != "constant" || !config_.scheduler_params.empty();
  }

  TrainConfig config_;
  c10::Device device_ = c10::Device(c10::kCPU);
  std::string device_note_;  // why the run is not on the GPU it asked for
  data::Dataset train_, test_;
  std::optional<data::Batches> train_batches_, test_batches_;
  std::shared_ptr<models::Net> net_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::optional<sched::LrSchedule> schedule_;
  std::optional<GradScaler> scaler_;  // fp16's loss scaling
  int64_t skipped_steps_ = 0;         // this epoch's steps the scaler skipped (inf or NaN gradients)
  // The epoch's loss sum and correct predictions, summed on the device and read at its end; the
  // same tensors all run long, as a captured step adds to them.
  at::Tensor epoch_loss_sum_, epoch_correct_;
  std::unique_ptr<GraphedStep> graphed_;                          // --cuda_graphs
  std::optional<GraphedStep::OptimizerStep> optimizer_in_graph_;  // the fused CUDA step, in the graph
  std::pair<int64_t, int64_t> graph_counts_;                      // replays and captures before this epoch
  bool reported_graphs_given_up_ = false;
  std::vector<std::unique_ptr<RunSink>> sinks_;
  std::string event_file_;  // TensorBoard's, if it writes one
  std::unique_ptr<dist::DataParallel> ranks_ = std::make_unique<dist::DataParallel>();  // a world of one
  Settings settings_;
  RunOutputs outputs_;                      // its files, the checkpoint it continues from, the claim
  std::string resumed_log_, resumed_line_;  // its log so far, and the line that says where it resumed
  Reporter report_;
  Position position_;
  std::optional<Evaluation> evaluation_;  // of the last epoch trained in this process
};

}  // namespace qres::train

#endif  // QRES_TRAIN_TRAINING_RUN_H_
