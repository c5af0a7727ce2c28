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
#include "qres/dist/gradient_sum.h"
#include "qres/dist/process_group.h"
#include "qres/io/archive_check.h"
#include "qres/io/files.h"
#include "qres/io/pickle.h"
#include "qres/io/tensorboard.h"
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/sched/scheduler.h"
#include "qres/train/checkpoint.h"
#include "qres/train/evaluation.h"
#include "qres/train/model_file.h"
#include "qres/train/run_files.h"
#include "qres/train/run_setup.h"
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

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::lround(seconds));
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

void DrawProgressBar(int64_t epoch, int64_t epochs, int64_t batch, int64_t batches, double loss,
                     double images_per_second, double eta_seconds) {
  const int width = 24;
  const int filled = static_cast<int>(width * batch / std::max<int64_t>(batches, 1));
  std::fprintf(stderr, "\r  epoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s  ",
               static_cast<long long>(epoch), static_cast<long long>(epochs),
               std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
               static_cast<long long>(batch), static_cast<long long>(batches), loss,
               images_per_second, FormatDuration(eta_seconds).c_str());
  std::fflush(stderr);
}

void ClearProgressBar() {
  std::fprintf(stderr, "\r%*s\r", 100, "");
  std::fflush(stderr);
}

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
  // Opens the run's TensorBoard folder (a fresh run first removes the event files of an earlier
  // run of that name); a failure is a warning and the run goes on without event files.
  void OpenEventFiles();
  // Writes the scalars if event files are open; a failure closes them with a warning.
  void LogScalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  std::optional<double> QuantIndex();
  // Data-parallel runs (config_.ranks): joins the ranks and makes rank 0's initial weights
  // everyone's; the other ranks print nothing and write no file.
  absl::Status JoinRanks();
  // Whether any rank was asked to stop (every rank stops at the same batch).
  absl::StatusOr<bool> AnyRankStops(bool stop);
  // Sums each gradient over the ranks (each rank's loss is already weighted by its share of the
  // batch), so every rank steps with the whole batch's gradient.
  void SumGradients();
  // Runs `fn`, which calls collectives: an error is one line saying which rank saw `what` fail,
  // and naming the lost ranks (NameLostRanks).
  template <typename Fn>
  absl::Status Collective(const std::string& what, Fn&& fn) {
    return NameLostRanks(CallTorch(absl::StrCat("rank ", group_->env.rank, ": ", what,
                                                " failed (another rank died, or hung past --dist_timeout)"),
                                   std::forward<Fn>(fn)));
  }
  // Sums `values` over the ranks, in place (the epoch's loss and counts); with MAX, their maxima.
  absl::Status ReduceOverRanks(std::vector<double>& values, c10d::ReduceOp::RedOpType op = c10d::ReduceOp::SUM);
  // BatchNorm running statistics averaged over the ranks (each saw its slices), before an
  // evaluation and the checkpoint; then a check that the ranks still hold the same weights and
  // quantization index, naming the rank that does not.
  absl::Status SynchronizeBuffersAndCheck();
  bool Lead() const { return !group_.has_value() || group_->env.rank == 0; }
  // `failed` (a collective's error) with the ranks that are gone: after a connection error each
  // surviving rank checks in at the store and waits a few seconds for the others; the ranks that
  // never do are named, and rank 0 when the store it serves is gone.
  absl::Status NameLostRanks(absl::Status failed);
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
  std::unique_ptr<io::EventWriter> events_;
  std::optional<dist::Group> group_;
  std::unique_ptr<dist::OverlappedGradientSum> gradient_sum_;  // absent: SumGradients after backward
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
  OpenEventFiles();
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
  if (group_) {
    report_.Line(absl::StrCat(
        "Ranks               : ", group_->env.world_size, " (c10d, ",
        device_.is_cuda() ? group_->process_group->getBackend(c10::DeviceType::CUDA)->getBackendName() : "gloo",
        "), ", config_.batch_size / group_->env.world_size, " of each batch per rank, gradients summed ",
        config_.dist_bucket_mb > 0 ? absl::StrCat("in ", config_.dist_bucket_mb, " MiB buckets during backward")
                                   : "after backward"));
  }
  report_.Line(absl::StrCat("Device              : ", device_.str(), ", seed ", config_.seed, ", evaluation in ",
                            config_.train_mode_eval ? "train mode (reference)" : "eval mode"));
  report_.Line(absl::StrCat("Outputs             : ", files_.model, ", ", files_.log, ", ", files_.error, ", ",
                            files_.metrics));
  if (events_ != nullptr) report_.Line(absl::StrCat("TensorBoard         : ", events_->path()));
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
  if (group_ && config_.dist_bucket_mb > 0) {
    QRES_ASSIGN_OR_RETURN(gradient_sum_, dist::OverlappedGradientSum::Create(*group_, net_->parameters(),
                                                                           config_.dist_bucket_mb << 20));
  }
  return absl::OkStatus();
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
    if (group_) {
      QRES_RETURN_IF_ERROR(ReduceOverRanks(sums));  // counts are exact in double
    }
    position_.loss_sum += sums[0];
    position_.correct += static_cast<int64_t>(sums[1]);
    position_.seen += static_cast<int64_t>(sums[2]);
    return absl::OkStatus();
  };
  for (; position_.batch < batches; ++position_.batch) {
    bool stop = should_stop && should_stop();
    if (group_) {
      QRES_ASSIGN_OR_RETURN(stop, AnyRankStops(stop));
    }
    if (stop) {
      if (config_.progress) ClearProgressBar();
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
    if (!group_) {
      QRES_RETURN_IF_ERROR(CallTorch("training step", [&] {
        data::Batch batch = train_batches_->Get(position_.batch);
        optimizer_->zero_grad();
        at::Tensor output = net_->forward(batch.images);
        at::Tensor loss = at::cross_entropy_loss(output, batch.labels);
        last_loss = loss.detach();
        loss.backward();
        optimizer_->step();
        at::NoGradGuard no_grad;
        loss_sum += loss.detach().to(at::kDouble);
        correct += at::argmax(output.detach(), 1).eq(batch.labels).sum();
        seen_now += batch.labels.size(0);
      }));
    } else {
      // Every rank makes the same global batch (same order, same augmentation) and takes its slice;
      // its loss is weighted by its share, so the summed gradient is the whole batch's.
      const std::string step =
          absl::StrCat("epoch ", position_.epoch + 1, " batch ", position_.batch + 1, ": the training step");
      QRES_RETURN_IF_ERROR(Collective(step, [&] {
        data::Batch batch = train_batches_->Get(position_.batch);
        const int64_t n = batch.labels.size(0), rank = group_->env.rank, size = group_->env.world_size;
        const int64_t begin = n * rank / size, end = n * (rank + 1) / size;
        optimizer_->zero_grad();
        if (end > begin) {
          const at::Tensor images = batch.images.slice(0, begin, end), labels = batch.labels.slice(0, begin, end);
          at::Tensor output = net_->forward(images);
          at::Tensor loss = at::cross_entropy_loss(output, labels);
          last_loss = loss.detach();
          // Summed during backward, unless a rank has no sample in this batch (then no rank does).
          const bool overlapped = gradient_sum_ != nullptr && n >= size;
          if (overlapped) gradient_sum_->ExpectBackward();
          (loss * (static_cast<double>(end - begin) / static_cast<double>(n))).backward();
          if (!overlapped) SumGradients();
          at::NoGradGuard no_grad;
          loss_sum += loss.detach().to(at::kDouble) * (static_cast<double>(end - begin) / static_cast<double>(n));
          correct += at::argmax(output.detach(), 1).eq(labels).sum();
          seen_now += end - begin;
        } else {
          SumGradients();
        }
        optimizer_->step();
      }));
    }
    const int64_t step = position_.epoch * batches + position_.batch + 1;  // steps taken so far
    if (events_ != nullptr && config_.tensorboard_every > 0 && step % config_.tensorboard_every == 0) {
      QRES_ASSIGN_OR_RETURN(const double loss, CallTorch("reading the loss", [&] { return last_loss.item<double>(); }));
      std::vector<std::pair<std::string, double>> values = {{"step/loss", loss}, {"step/lr", schedule_->lr()}};
      if (const std::optional<double> index = QuantIndex(); index.has_value()) values.emplace_back("step/quant_index", *index);
      LogScalars(step, values);
    }
    if (config_.schedule_per_batch) schedule_->Step();
    if (config_.progress && (position_.batch % 10 == 9 || position_.batch + 1 == batches)) {
      const double elapsed = Seconds(epoch_start);
      const double done = static_cast<double>(position_.batch + 1);
      QRES_ASSIGN_OR_RETURN(const double epoch_loss_so_far,
                            CallTorch("reading the loss", [&] { return loss_sum.item<double>(); }));
      DrawProgressBar(position_.epoch + 1, config_.epochs, position_.batch + 1, batches,
                      (position_.loss_sum + epoch_loss_so_far) / done, seen_now / std::max(elapsed, 1e-9),
                      elapsed / std::max<double>(done, 1) * (batches - done));
    }
  }
  if (config_.progress) ClearProgressBar();
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
  position_.metrics += absl::StrFormat(
      "{\"epoch\": %d, \"loss\": %.9g, \"train_accuracy\": %.6f, \"test_accuracy\": %.6f, "
      "\"lr\": %.9g, \"quant_index\": %s, \"seconds\": %.3f, \"images_per_second\": %.1f}\n",
      position_.epoch + 1, cost, train_accuracy, evaluation_->accuracy(), lr,
      quantizer != nullptr ? absl::StrFormat("%.6g", quantizer->index()) : "null", epoch_seconds,
      images_per_second);

  std::vector<std::pair<std::string, double>> scalars = {
      {"epoch/loss", cost},           {"epoch/train_accuracy", train_accuracy},
      {"epoch/test_accuracy", evaluation_->accuracy()}, {"epoch/lr", lr},
      {"epoch/images_per_second", images_per_second}};
  if (quantizer != nullptr) scalars.emplace_back("epoch/quant_index", quantizer->index());
  LogScalars(position_.epoch + 1, scalars);

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

void TrainingRun::OpenEventFiles() {
  if (config_.tensorboard == "off" || !Lead()) return;
  const std::string dir = EventDir(config_.tensorboard, config_.out_dir, proc_);
  if (resume_checkpoint_ != files_.checkpoint) {  // this run replaces one of the same name; its events would mix in
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
      if (entry.path().filename().string().rfind("events.out.tfevents.", 0) == 0) {
        std::filesystem::remove(entry.path(), error);
      }
    }
  }
  absl::StatusOr<std::unique_ptr<io::EventWriter>> writer = io::EventWriter::Open(dir);
  if (!writer.ok()) {
    std::cerr << "train: warning: no TensorBoard files: " << writer.status().message() << "\n";
    return;
  }
  events_ = *std::move(writer);
}

void TrainingRun::LogScalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  if (events_ == nullptr) return;
  if (absl::Status written = events_->Scalars(step, values); !written.ok()) {
    std::cerr << "train: warning: TensorBoard files stop here: " << written.message() << "\n";
    events_.reset();
  }
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
  QRES_ASSIGN_OR_RETURN(group_, dist::Connect(env, transport, std::chrono::seconds(config_.dist_timeout_s)));
  report_.set_silent(env.rank != 0 && !config_.dist_all_ranks_print);
  if (config_.dist_all_ranks_print) report_.set_prefix(absl::StrCat("[rank ", env.rank, "] "));
  return Collective("sharing rank 0's initial weights", [&] {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> tensors;
    for (const at::Tensor& p : net_->parameters()) tensors.push_back(p);
    for (const at::Tensor& b : net_->buffers()) tensors.push_back(b);
    for (at::Tensor& t : tensors) {
      std::vector<at::Tensor> one = {t};
      group_->process_group->broadcast(one)->wait();
    }
  });
}

absl::StatusOr<Evaluation> TrainingRun::EvaluateTestSet() {
  if (!group_ || config_.train_mode_eval) return Evaluate(*net_, *test_batches_, test_.classes, config_.train_mode_eval);
  QRES_ASSIGN_OR_RETURN(Evaluation evaluation, Evaluate(*net_, *test_batches_, test_.classes, /*train_mode=*/false,
                                                        group_->env.rank, group_->env.world_size));
  QRES_RETURN_IF_ERROR(Collective("summing the evaluation", [&] {
    std::vector<at::Tensor> confusion = {evaluation.confusion.contiguous()};
    group_->process_group->allreduce(confusion)->wait();
    evaluation.confusion = confusion[0];
    evaluation.samples = evaluation.confusion.sum().item<int64_t>();
    evaluation.correct = evaluation.confusion.diagonal().sum().item<int64_t>();
  }));
  return evaluation;
}

absl::Status TrainingRun::NameLostRanks(absl::Status failed) {
  if (failed.ok() || !group_) return failed;
  const std::string message(failed.message());
  const bool lost_contact = absl::StrContains(message, "Connection") || absl::StrContains(message, "Read error") ||
                            absl::StrContains(message, "Write error") || absl::StrContains(message, "Broken pipe") ||
                            absl::StrContains(message, "imed out");
  if (!lost_contact) return failed;
  std::vector<int> lost;
  bool store_gone = false;
  try {
    const std::string prefix = absl::StrCat("survivors/", position_.epoch, "/", position_.batch, "/");
    group_->store->set(absl::StrCat(prefix, group_->env.rank), std::string("1"));
    const auto deadline = Clock::now() + std::chrono::seconds(3);
    for (;;) {
      lost.clear();
      for (int r = 0; r < group_->env.world_size; ++r) {
        if (!group_->store->check({absl::StrCat(prefix, r)})) lost.push_back(r);
      }
      if (lost.empty() || Clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const std::exception&) {
    store_gone = true;
  }
  std::string who = store_gone ? "rank 0 (it serves the rendezvous store)" : "";
  if (!store_gone && !lost.empty()) {
    who = absl::StrCat(lost.size() == 1 ? "rank " : "ranks ", absl::StrJoin(lost, ", "));
  }
  if (who.empty()) return failed;
  return absl::Status(failed.code(), absl::StrCat(message, "; lost: ", who));
}

absl::StatusOr<bool> TrainingRun::AnyRankStops(bool stop) {
  std::vector<double> flag = {stop ? 1.0 : 0.0};
  QRES_RETURN_IF_ERROR(ReduceOverRanks(flag));
  return flag[0] > 0;
}

void TrainingRun::SumGradients() {
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : net_->parameters()) {
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);  // a rank with no sample in the batch
    grads.push_back(p.grad());
  }
  dist::SumInOneAllreduce(*group_->process_group, grads);
}

absl::Status TrainingRun::ReduceOverRanks(std::vector<double>& values, c10d::ReduceOp::RedOpType op) {
  return Collective("a collective", [&] {
    std::vector<at::Tensor> tensor = {at::tensor(values, at::kDouble)};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp(op);
    group_->process_group->allreduce(tensor, options)->wait();
    const at::Tensor summed = tensor[0].contiguous();
    values.assign(summed.data_ptr<double>(), summed.data_ptr<double>() + summed.numel());
  });
}

absl::Status TrainingRun::SynchronizeBuffersAndCheck() {
  if (!group_) return absl::OkStatus();
  const int rank = group_->env.rank, size = group_->env.world_size;
  QRES_RETURN_IF_ERROR(Collective("averaging the BatchNorm statistics", [&] {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> statistics;
    for (const at::Tensor& buffer : net_->buffers()) {
      if (buffer.is_floating_point()) statistics.push_back(buffer);  // num_batches_tracked: the same everywhere
    }
    if (statistics.empty()) return;
    dist::SumInOneAllreduce(*group_->process_group, statistics);
    for (at::Tensor& buffer : statistics) buffer.div_(size);
  }));
  // Every rank steps with the same gradients, so the weights and the index must agree bit for bit.
  double checksum = 0;
  QRES_RETURN_IF_ERROR(CallTorch("checking the weights", [&] {
    at::Tensor total = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device_));
    for (const at::Tensor& p : net_->parameters()) total += p.detach().sum(at::kDouble);
    checksum = total.item<double>();  // one wait for the device
  }));
  const std::optional<double> index = QuantIndex();
  const std::vector<double> mine = {checksum, index.value_or(0.0)};
  // The largest and (negated) smallest over the ranks: all equal when both are this rank's.
  std::vector<double> extremes = {mine[0], -mine[0], mine[1], -mine[1]};
  QRES_RETURN_IF_ERROR(ReduceOverRanks(extremes, c10d::ReduceOp::MAX));
  for (int i = 0; i < 2; ++i) {
    if (std::isnan(mine[i])) continue;  // diverged weights: the loss check says so, not this one
    const double largest = extremes[2 * i], smallest = -extremes[2 * i + 1];
    if (largest != mine[i] || smallest != mine[i]) {
      return absl::DataLossError(absl::StrFormat(
          "rank %d: its %s differ%s from another rank's at epoch %d (this rank's %.17g, the ranks' range [%.17g, %.17g])",
          rank, i == 0 ? "weights" : "quantization index", i == 0 ? "" : "s", position_.epoch + 1, mine[i], smallest,
          largest));
    }
  }
  return absl::OkStatus();
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
