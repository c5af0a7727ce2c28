#include "qres/train/trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

#include "ATen/Context.h"
#include "ATen/Parallel.h"
#include "ATen/ops/argmax.h"
#include "ATen/ops/cat.h"
#include "ATen/ops/cross_entropy_loss.h"
#include "ATen/ops/tensor.h"
#include "ATen/ops/zeros.h"
#include "ATen/ops/zeros_like.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "c10/core/GradMode.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/data/batches.h"
#include "qres/data/dataset.h"
#include "qres/dist/data_parallel.h"
#include "qres/io/archive_check.h"
#include "qres/io/files.h"
#include "qres/io/metrics.h"
#include "qres/io/pickle.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/sched/scheduler.h"
#include "qres/train/checkpoint.h"
#include "qres/train/evaluation.h"
#include "qres/train/model_file.h"
#include "qres/train/run_files.h"
#include "qres/train/run_setup.h"
#include "qres/train/sinks.h"
#include "torch/serialize.h"

namespace qres::train {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Prints to stdout and keeps every line for the operation log.
class Reporter {
 public:
  void Line(const std::string& line) {
    if (!silent_) std::cout << prefix_ << line << std::endl;
    text_ += line + "\n";
  }
  void set_silent(bool silent) { silent_ = silent; }  // a data-parallel run's other ranks
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
  absl::Status CheckConfig() const;
  absl::Status LoadData();
  absl::Status BuildNetAndOptimizer();
  absl::Status ClaimOutputs();
  // The checkpoint to continue from (--resume: the run's own, which must exist; --resume_from: the
  // given one), or "" for a fresh start.
  absl::StatusOr<std::string> CheckpointToResume() const;
  // Loads resume_checkpoint_ into the net, optimizer, schedule and position, after checking it.
  absl::Status LoadResumedCheckpoint();
  // The header of a fresh run, or the resumed run's log and its "Resumed from" line.
  void StartReport();
  void ReportHeader();
  // The epoch's training seconds (with those before an interruption); Cancelled, after writing a
  // checkpoint, when `should_stop` says so before a batch.
  absl::StatusOr<double> TrainEpoch(const std::function<bool()>& should_stop);
  absl::Status EndEpoch(double epoch_seconds);
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
  std::vector<std::unique_ptr<RunSink>> sinks_;
  std::string event_file_;  // TensorBoard's, if it writes one
  std::unique_ptr<dist::DataParallel> ranks_ = std::make_unique<dist::DataParallel>();  // a world of one
  std::string proc_;
  Settings settings_;
  RunFiles files_;
  std::unique_ptr<RunLock> lock_;
  std::string resume_checkpoint_;  // the checkpoint this run continues from; empty: a fresh start
  std::string resumed_log_, resumed_line_;  // its log so far, and the line that says where it resumed
  Reporter report_;
  Position position_;
  std::optional<Evaluation> evaluation_;  // of the last epoch trained in this process
};

absl::Status TrainingRun::CheckConfig() const {
  if (config_.epochs <= 0) return absl::InvalidArgumentError(absl::StrCat("--epochs=", config_.epochs, " must be > 0"));
  if (!(config_.lr >= 0.0) || !std::isfinite(config_.lr)) {
    return absl::InvalidArgumentError(absl::StrCat("--lr=", config_.lr, " must be a finite number >= 0"));
  }
  if (config_.batch_size < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--batch_size=", config_.batch_size, " must be > 0"));
  }
  return dist::ChooseTransport(config_.dist_backend, config_.cuda).status();
}

absl::Status TrainingRun::LoadData() {
  // Names go through the registries first, so a typo fails before any data is read.
  QRES_ASSIGN_OR_RETURN(auto dataset_entry, data::DatasetRegistry::Find(config_.dataset));
  config_.dataset = dataset_entry->name;
  QRES_ASSIGN_OR_RETURN(auto algorithm_entry, optim::OptimizerRegistry::Find(config_.algorithm));
  config_.algorithm = algorithm_entry->name;
  QRES_ASSIGN_OR_RETURN(train_, data::LoadDataset(config_.dataset, config_.data_dir, data::Split::kTrain));
  QRES_ASSIGN_OR_RETURN(test_, data::LoadDataset(config_.dataset, config_.data_dir, data::Split::kTest));
  if (config_.net.empty()) config_.net = DefaultNet(train_);
  QRES_ASSIGN_OR_RETURN(auto net_entry, models::ModelRegistry::Find(config_.net));
  config_.net = net_entry->name;
  if (config_.batch_size == 0) config_.batch_size = train_.default_batch_size;

  data::BatchOptions options;
  options.batch_size = config_.batch_size;
  options.shuffle = config_.shuffle;
  options.drop_last = config_.drop_last;
  options.augment = config_.augment;
  options.seed = config_.seed;
  options.normalization = config_.mean_std ? data::Normalization::kMeanStd : train_.normalization;
  options.device = device_;
  data::BatchOptions test_options = options;
  test_options.shuffle = false;
  test_options.drop_last = false;
  test_options.augment = false;
  QRES_ASSIGN_OR_RETURN(train_batches_,
                        CallTorch("batching the training set", [&] { return data::Batches(train_, options); }));
  QRES_ASSIGN_OR_RETURN(test_batches_,
                        CallTorch("batching the test set", [&] { return data::Batches(test_, test_options); }));
  if (train_batches_->size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--batch_size=", config_.batch_size, " leaves no batch of ",
                                                   train_.size(), " training images (drop_last)"));
  }
  return absl::OkStatus();
}

absl::Status TrainingRun::BuildNetAndOptimizer() {
  at::manual_seed(config_.seed);
  QRES_ASSIGN_OR_RETURN(net_, models::CreateModel(config_.net, SpecFor(train_, config_.net_params)));
  QRES_RETURN_IF_ERROR(CallTorch("moving the net to the device", [&] { net_->to(device_); }));
  optim::OptimizerSpec spec;
  spec.lr = config_.lr;
  spec.qp = config_.qp.value_or(0);
  spec.optim_params = config_.optim_params;
  spec.quant_params = config_.quant_params;
  spec.batches_per_epoch = train_batches_->size();
  spec.epochs = config_.epochs;
  QRES_ASSIGN_OR_RETURN(optimizer_, optim::OptimizerRegistry::Create(config_.algorithm, net_->parameters(), spec));
  const sched::SchedulerSpec schedule{config_.lr, config_.epochs,
                                      config_.schedule_per_batch ? train_batches_->size() : 1, config_.scheduler_params};
  QRES_ASSIGN_OR_RETURN(schedule_, sched::MakeLrSchedule(config_.scheduler, schedule));
  const optim::Quantizer* quantizer = optim::QuantizerOf(*optimizer_);
  if (config_.qp.has_value() && (quantizer == nullptr || quantizer->options().schedule != optim::QuantSchedule::kBump)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "-qp ", *config_.qp, " has no effect: only the bump schedule of QSGD, QtAdam and QtAdamW reads it (this run: ",
        config_.algorithm,
        quantizer != nullptr ? absl::StrCat(", schedule=", optim::ToString(quantizer->options().schedule)) : "",
        ")"));
  }
  return absl::OkStatus();
}

absl::Status TrainingRun::ClaimOutputs() {
  proc_ = RunName(config_);
  files_ = RunFiles::For(config_.out_dir, proc_);
  QRES_ASSIGN_OR_RETURN(resume_checkpoint_, CheckpointToResume());
  settings_ = RunSettings(config_, train_);
  // Loaded and checked before anything is claimed or removed: a checkpoint that does not fit
  // leaves every file as it was.
  if (!resume_checkpoint_.empty()) QRES_RETURN_IF_ERROR(LoadResumedCheckpoint());
  if (!Lead()) return absl::OkStatus();  // rank 0 owns the outputs; the others only read the checkpoint
  // Made only now that everything else checked out: a bad flag leaves nothing behind.
  QRES_RETURN_IF_ERROR(io::CreateOutputDirectory(config_.out_dir));
  // The run's outputs are one set: one process writes them, and a new run never mixes its files
  // with an older run's of the same name.
  const std::vector<std::string> outputs = files_.All();
  QRES_ASSIGN_OR_RETURN(lock_, RunLock::Acquire(config_.out_dir, proc_, outputs));
  if (resume_checkpoint_ == files_.checkpoint) return absl::OkStatus();  // continuing this run's own files
  std::vector<std::string> existing;
  for (const std::string& file : outputs) {
    if (io::FileExists(file)) existing.push_back(file);
  }
  if (!existing.empty() && !config_.overwrite) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--out_dir=", config_.out_dir, " already holds run ", proc_, " (", existing.size(), " of its files, e.g. ",
        existing.front(), "); give --overwrite to replace it, --resume to continue it, or another --out_dir"));
  }
  for (const std::string& file : existing) std::remove(file.c_str());
  return absl::OkStatus();
}

absl::StatusOr<std::string> TrainingRun::CheckpointToResume() const {
  if (!config_.resume_from.empty()) {
    if (access(config_.resume_from.c_str(), R_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("--resume_from=", config_.resume_from, ": ", std::strerror(errno)));
    }
    return config_.resume_from;
  }
  if (!config_.resume) return std::string();
  if (io::FileExists(files_.checkpoint)) return files_.checkpoint;
  // The run's name holds its epoch count, so a run asked for more epochs looks for another file.
  const std::vector<std::string> others = CheckpointsOf(config_.out_dir, absl::StrCat(config_.net, config_.algorithm));
  return absl::NotFoundError(absl::StrCat(
      "--resume: no checkpoint ", files_.checkpoint, " for run ", proc_,
      others.empty() ? absl::StrCat("; start it without --resume")
                     : absl::StrCat("; ", config_.out_dir, " holds ", absl::StrJoin(others, ", "),
                                    ": continue one for more epochs with --resume_from=", others.back(),
                                    " --epochs=", config_.epochs)));
}

absl::Status TrainingRun::LoadResumedCheckpoint() {
  std::string earlier_world_size;
  QRES_RETURN_IF_ERROR(LoadCheckpoint(resume_checkpoint_, *net_, *optimizer_, *schedule_, position_, resumed_log_,
                                      settings_, earlier_world_size));
  if (position_.epoch >= config_.epochs && resume_checkpoint_ != files_.checkpoint) {
    return absl::InvalidArgumentError(absl::StrCat("--resume_from=", resume_checkpoint_, " has trained ",
                                                   position_.epoch, " epochs already; --epochs=", config_.epochs,
                                                   " must be more to continue it"));
  }
  const std::string& world_size = settings_.at("world_size");
  resumed_line_ = absl::StrCat("Resumed from ", resume_checkpoint_, " at epoch ", position_.epoch + 1, ", batch ",
                               position_.batch,
                               earlier_world_size == world_size
                                   ? ""
                                   : absl::StrCat(", on ", world_size, " rank(s); it ran on ", earlier_world_size,
                                                  " (the same global batches; the sums round differently)"));
  return absl::OkStatus();
}

void TrainingRun::StartReport() {
  OpenSinks();
  if (resume_checkpoint_.empty()) {
    ReportHeader();
    return;
  }
  report_.set_text(resumed_log_);
  report_.Line(resumed_line_);
}

void TrainingRun::ReportHeader() {
  report_.Line("====================================================");
  report_.Line("qres train: learning with monotonically increasing resolution of quantization");
  report_.Line("====================================================");
  if (!device_note_.empty()) report_.Line(device_note_);
  report_.Line(absl::StrCat("Data set            : ", train_.name, " (", train_.size(), " train, ", test_.size(),
                            " test; ", train_.source, ")"));
  report_.Line(absl::StrCat("Net                 : ", net_->Describe()));
  report_.Line(absl::StrCat("Algorithm           : ", config_.algorithm, ", lr ", config_.lr,
                            config_.optim_params.empty() ? "" : absl::StrCat(", ", config_.optim_params)));
  if (const std::optional<optim::StepPath> path = optim::StepPathOf(*optimizer_); path.has_value()) {
    report_.Line(absl::StrCat("Optimizer step      : ", optim::ToString(*path)));
  }
  if (LrIsScheduled()) {
    report_.Line(absl::StrCat("Learning Schedule   : ", config_.scheduler,
                              config_.scheduler_params.empty() ? "" : absl::StrCat(" (", config_.scheduler_params, ")"),
                              ", stepped per ", config_.schedule_per_batch ? "batch" : "epoch", ", first lr ",
                              schedule_->lr()));
  }
  if (const optim::Quantizer* quantizer = optim::QuantizerOf(*optimizer_); quantizer != nullptr) {
    report_.Line(absl::StrCat("Quantization        : ", quantizer->options().Describe()));
    report_.Line(absl::StrFormat("Initial QP          : %g (index %g)", quantizer->resolution(), quantizer->index()));
  }
  report_.Line(absl::StrCat("Batches             : ", train_batches_->size(), " of ", config_.batch_size,
                            ", shuffle ", config_.shuffle ? "on" : "off", ", drop_last ",
                            config_.drop_last ? "on" : "off", ", augment ", config_.augment ? "on" : "off"));
  if (!ranks_->single()) {
    report_.Line(absl::StrCat(
        "Ranks               : ", ranks_->world_size(), " (c10d, ", ranks_->BackendName(device_.is_cuda()), "), ",
        config_.batch_size / ranks_->world_size(), " of each batch per rank, gradients summed ",
        config_.dist_bucket_mb > 0 ? absl::StrCat("in ", config_.dist_bucket_mb, " MiB buckets during backward")
                                   : "after backward"));
  }
  report_.Line(absl::StrCat("Device              : ", device_.str(), ", seed ", config_.seed, ", evaluation in ",
                            config_.train_mode_eval ? "train mode (reference)" : "eval mode"));
  report_.Line(absl::StrCat("Outputs             : ", files_.model, ", ", files_.log, ", ", files_.error, ", ",
                            files_.metrics));
  if (!event_file_.empty()) report_.Line(absl::StrCat("TensorBoard         : ", event_file_));
}

absl::Status TrainingRun::SetUp() {
  QRES_RETURN_IF_ERROR(CheckConfig());
  if (config_.threads > 0) at::set_num_threads(static_cast<int>(config_.threads));
  device_ = PickDevice(config_.cuda, &device_note_, config_.ranks ? config_.ranks->local_rank : 0);
  if (device_.is_cuda() && device_.index() >= static_cast<int>(at::getNumGPUs())) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", config_.ranks->rank, " would train on GPU ", device_.index(),
                                                   " (LOCAL_RANK) but this machine has ", at::getNumGPUs(),
                                                   "; start at most that many ranks per machine"));
  }
  QRES_RETURN_IF_ERROR(LoadData());
  QRES_RETURN_IF_ERROR(BuildNetAndOptimizer());
  QRES_RETURN_IF_ERROR(JoinRanks());
  QRES_RETURN_IF_ERROR(ClaimOutputs());
  StartReport();
  // Hooked to the parameters' gradient accumulators as they are after a resume's load.
  return ranks_->OverlapGradientSums(net_->parameters(), config_.dist_bucket_mb << 20);
}

absl::StatusOr<double> TrainingRun::TrainEpoch(const std::function<bool()>& should_stop) {
  const Clock::time_point epoch_start = Clock::now();
  const double time_before = position_.epoch_seconds;
  const int64_t batches = train_batches_->size();
  at::Tensor loss_sum, correct;  // summed on the device, read at the epoch's end
  QRES_RETURN_IF_ERROR(CallTorch("starting the epoch", [&] {
    train_batches_->StartEpoch(position_.epoch);
    loss_sum = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device_));
    correct = at::zeros({}, at::TensorOptions().dtype(at::kLong).device(device_));
  }));
  int64_t seen_now = 0;
  at::Tensor last_loss;  // the last step's, for the step scalars
  // Folds the device-side sums into the progress (they wait for the device).
  auto collect = [&]() -> absl::Status {
    std::vector<double> sums(3);
    QRES_RETURN_IF_ERROR(CallTorch("reading the epoch's loss", [&] {
      sums = {loss_sum.item<double>(), static_cast<double>(correct.item<int64_t>()), static_cast<double>(seen_now)};
    }));
    QRES_RETURN_IF_ERROR(ranks_->Reduce(sums));  // counts are exact in double
    position_.loss_sum += sums[0];
    position_.correct += static_cast<int64_t>(sums[1]);
    position_.seen += static_cast<int64_t>(sums[2]);
    return absl::OkStatus();
  };
  for (; position_.batch < batches; ++position_.batch) {
    QRES_ASSIGN_OR_RETURN(const bool stop, ranks_->AnyStops(should_stop && should_stop()));
    if (stop) {
      for (auto& sink : sinks_) sink->OnBatchesDone();
      QRES_RETURN_IF_ERROR(collect());
      position_.epoch_seconds = time_before + Seconds(epoch_start);
      report_.Line(absl::StrCat("Interrupted at epoch ", position_.epoch + 1, ", batch ", position_.batch,
                                "; continue with --resume"));
      QRES_RETURN_IF_ERROR(SynchronizeBuffersAndCheck());
      if (Lead()) {
        QRES_RETURN_IF_ERROR(
            SaveCheckpoint(files_.checkpoint, *net_, *optimizer_, *schedule_, position_, report_.text(), settings_));
        QRES_RETURN_IF_ERROR(io::WriteFileAtomically(files_.log, report_.text()));
      }
      return absl::CancelledError(
          absl::StrCat("interrupted; the checkpoint ", files_.checkpoint, " resumes with --resume"));
    }
    SetLr(schedule_->lr());
    // Every rank makes the same global batch (same order, same augmentation) and takes its slice;
    // the ranks' gradients sum to the whole batch's (one process has the whole batch).
    const std::string what =
        absl::StrCat("epoch ", position_.epoch + 1, " batch ", position_.batch + 1, ": the training step");
    QRES_RETURN_IF_ERROR(ranks_->Run(what, [&] {
      data::Batch batch = train_batches_->Get(position_.batch);
      const dist::BatchSlice slice = ranks_->Slice(batch.labels.size(0));
      optimizer_->zero_grad();
      at::Tensor loss;
      if (!slice.empty()) {
        const at::Tensor images = slice.whole() ? batch.images : batch.images.slice(0, slice.begin, slice.end);
        const at::Tensor labels = slice.whole() ? batch.labels : batch.labels.slice(0, slice.begin, slice.end);
        const at::Tensor output = net_->forward(images);
        loss = at::cross_entropy_loss(output, labels);
        last_loss = loss.detach();
        at::NoGradGuard no_grad;
        const at::Tensor batch_loss = loss.detach().to(at::kDouble);
        loss_sum += slice.whole() ? batch_loss : batch_loss * slice.share();
        correct += at::argmax(output.detach(), 1).eq(labels).sum();
        seen_now += slice.end - slice.begin;
      }  // backward and the step run with gradients on
      ranks_->Backward(loss, slice, net_->parameters());
      optimizer_->step();
    }));
    const int64_t step = position_.epoch * batches + position_.batch + 1;  // steps taken so far
    StepReport report;
    report.step = step;
    report.epoch = position_.epoch + 1;
    report.epochs = config_.epochs;
    report.batch = position_.batch + 1;
    report.batches = batches;
    report.lr = schedule_->lr();
    report.quant_index = QuantIndex();
    const double elapsed = Seconds(epoch_start);
    report.images_per_second = seen_now / std::max(elapsed, 1e-9);
    report.eta_seconds = elapsed / static_cast<double>(report.batch) * static_cast<double>(batches - report.batch);
    report.loss = [&] { return CallTorch("reading the loss", [&] { return last_loss.item<double>(); }); };
    report.epoch_loss = [&]() -> absl::StatusOr<double> {
      QRES_ASSIGN_OR_RETURN(const double so_far, CallTorch("reading the loss", [&] { return loss_sum.item<double>(); }));
      return (position_.loss_sum + so_far) / static_cast<double>(report.batch);
    };
    for (auto& sink : sinks_) QRES_RETURN_IF_ERROR(sink->OnStep(report));
    if (config_.schedule_per_batch) schedule_->Step();
  }
  for (auto& sink : sinks_) sink->OnBatchesDone();
  QRES_RETURN_IF_ERROR(collect());
  return time_before + Seconds(epoch_start);
}

absl::Status TrainingRun::EndEpoch(double epoch_seconds) {
  const int64_t batches = train_batches_->size();
  const double cost = position_.loss_sum / batches;
  if (!std::isfinite(cost)) {
    // The outputs stay those of the last good epoch: its checkpoint, metrics and error trend.
    const bool kept = position_.epoch > 0 && io::FileExists(files_.checkpoint);
    const std::string message = absl::StrCat(
        "epoch ", position_.epoch + 1, ": the mean training loss is ", cost,
        ", the run diverged; try a smaller --lr (this run: ", config_.lr, ")",
        kept ? absl::StrCat("; ", files_.checkpoint, " holds epoch ", position_.epoch) : "");
    report_.Line(message);
    if (Lead()) QRES_RETURN_IF_ERROR(io::WriteFileAtomically(files_.log, report_.text()));
    return absl::FailedPreconditionError(message);
  }
  position_.losses.push_back(cost);
  position_.train_seconds += epoch_seconds;
  QRES_RETURN_IF_ERROR(SynchronizeBuffersAndCheck());

  QRES_ASSIGN_OR_RETURN(evaluation_, EvaluateTestSet());
  const double train_accuracy = position_.seen ? static_cast<double>(position_.correct) / position_.seen : 0.0;
  const double images_per_second = position_.seen / std::max(epoch_seconds, 1e-9);
  // Current after this epoch's steps (on a GPU: the one wait for the device's index per epoch).
  const optim::Quantizer* quantizer = optim::QuantizerOf(*optimizer_);
  const double lr = optimizer_->param_groups()[0].options().get_lr();  // of the epoch's last batch
  std::string line = absl::StrFormat("[Epoch : %4d] cost = %.9f", position_.epoch + 1, cost);
  if (quantizer != nullptr) absl::StrAppendFormat(&line, "  QP Index: %g", quantizer->index());
  if (LrIsScheduled()) absl::StrAppendFormat(&line, "  lr %.6g", lr);
  absl::StrAppendFormat(&line, "  train acc %.4f  test acc %.4f  %.1f s  %.0f img/s", train_accuracy,
                        evaluation_->accuracy(), epoch_seconds, images_per_second);
  report_.Line(line);
  io::EpochMetrics metrics;
  metrics.epoch = position_.epoch + 1;
  metrics.loss = cost;
  metrics.train_accuracy = train_accuracy;
  metrics.test_accuracy = evaluation_->accuracy();
  metrics.lr = lr;
  if (quantizer != nullptr) metrics.quant_index = quantizer->index();
  metrics.seconds = epoch_seconds;
  metrics.images_per_second = images_per_second;
  position_.metrics += io::MetricsLine(metrics);

  for (auto& sink : sinks_) sink->OnEpoch(metrics);

  position_.batch = 0;
  position_.loss_sum = 0;
  position_.correct = 0;
  position_.seen = 0;
  position_.epoch_seconds = 0;
  if (!config_.schedule_per_batch) schedule_->Step();  // the follow-up's rule: after the epoch's batches
  Position next = position_;  // the checkpoint resumes at the next epoch
  ++next.epoch;
  if (!Lead()) return absl::OkStatus();
  QRES_RETURN_IF_ERROR(
      SaveCheckpoint(files_.checkpoint, *net_, *optimizer_, *schedule_, next, report_.text(), settings_));
  QRES_RETURN_IF_ERROR(io::WriteFileAtomically(files_.metrics, position_.metrics));
  QRES_RETURN_IF_ERROR(io::WriteFileAtomically(files_.error, io::PickleFloatList(position_.losses)));
  return io::WriteFileAtomically(files_.log, report_.text());
}

void TrainingRun::OpenSinks() {
  if (config_.progress) sinks_.push_back(std::make_unique<ProgressBar>());
  if (config_.tensorboard == "off" || !Lead()) return;
  // A fresh run replaces one of the same name: its events would mix in.
  std::unique_ptr<TensorBoardSink> tensorboard =
      TensorBoardSink::Open(EventDir(config_.tensorboard, config_.out_dir, proc_),
                            /*clear=*/resume_checkpoint_ != files_.checkpoint, config_.tensorboard_every);
  if (tensorboard == nullptr) return;
  event_file_ = tensorboard->path();
  sinks_.push_back(std::move(tensorboard));
}

std::optional<double> TrainingRun::QuantIndex() {
  const optim::Quantizer* quantizer = optim::QuantizerOf(*optimizer_);
  if (quantizer == nullptr) return std::nullopt;
  return quantizer->index();
}

absl::Status TrainingRun::JoinRanks() {
  if (!config_.ranks) return absl::OkStatus();
  const dist::Environment& env = *config_.ranks;
  if (config_.batch_size % env.world_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--batch_size=", config_.batch_size, " (the global batch) does not split over ",
                                                   env.world_size, " ranks; give a multiple of ", env.world_size));
  }
  QRES_ASSIGN_OR_RETURN(const dist::Transport transport, dist::ChooseTransport(config_.dist_backend, device_.is_cuda()));
  QRES_ASSIGN_OR_RETURN(ranks_, dist::DataParallel::Join(env, transport, std::chrono::seconds(config_.dist_timeout_s)));
  report_.set_silent(env.rank != 0 && !config_.dist_all_ranks_print);
  if (config_.dist_all_ranks_print) report_.set_prefix(absl::StrCat("[rank ", env.rank, "] "));
  std::vector<at::Tensor> state = net_->parameters();
  for (const at::Tensor& buffer : net_->buffers()) state.push_back(buffer);
  return ranks_->Broadcast(state);
}

absl::StatusOr<Evaluation> TrainingRun::EvaluateTestSet() {
  if (ranks_->single() || config_.train_mode_eval) {
    return Evaluate(*net_, *test_batches_, test_.classes, config_.train_mode_eval);
  }
  QRES_ASSIGN_OR_RETURN(Evaluation evaluation, Evaluate(*net_, *test_batches_, test_.classes, /*train_mode=*/false,
                                                        ranks_->rank(), ranks_->world_size()));
  QRES_RETURN_IF_ERROR(ranks_->Run("summing the evaluation", [&] {
    ranks_->SumInPlace(evaluation.confusion);
    evaluation.samples = evaluation.confusion.sum().item<int64_t>();
    evaluation.correct = evaluation.confusion.diagonal().sum().item<int64_t>();
  }));
  return evaluation;
}

absl::Status TrainingRun::SynchronizeBuffersAndCheck() {
  return ranks_->SyncBuffersAndCheck(net_->parameters(), net_->buffers(), QuantIndex().value_or(0.0), position_.epoch + 1);
}

void TrainingRun::SetLr(double lr) {
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

absl::Status TrainingRun::Finish() {
  // The last epoch's evaluation is the final one (evaluated again only when a resumed run had no
  // epoch left to train).
  if (!evaluation_) {
    QRES_ASSIGN_OR_RETURN(evaluation_, EvaluateTestSet());
  }
  report_.Line("Test Mode : Testing");
  report_.Line(absl::StrCat("Total samples       : ", evaluation_->samples));
  report_.Line(absl::StrCat("Right Score         : ", evaluation_->correct));
  report_.Line(absl::StrFormat("Accuracy            : %.6f", evaluation_->accuracy()));
  report_.Line(absl::StrFormat("Total Learning Time : %.2f s", position_.train_seconds));
  report_.Line(absl::StrFormat("Average per Epoch   : %.2f s", position_.train_seconds / config_.epochs));
  if (!Lead()) return absl::OkStatus();
  QRES_RETURN_IF_ERROR(SaveModelFile(files_.model, *net_));
  report_.Line(absl::StrCat("Saved model         : ", files_.model));
  return io::WriteFileAtomically(files_.log, report_.text());
}

absl::Status TrainingRun::Run(const std::function<bool()>& should_stop) {
  net_->train();
  for (; position_.epoch < config_.epochs; ++position_.epoch) {
    QRES_ASSIGN_OR_RETURN(const double epoch_seconds, TrainEpoch(should_stop));
    QRES_RETURN_IF_ERROR(EndEpoch(epoch_seconds));
  }
  return Finish();
}

}  // namespace

absl::Status Train(const TrainConfig& config, const std::function<bool()>& should_stop) {
  TrainingRun run(config);
  QRES_RETURN_IF_ERROR(run.SetUp());
  return run.Run(should_stop);
}

}  // namespace qres::train
