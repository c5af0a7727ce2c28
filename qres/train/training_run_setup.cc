#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/io/crc32.h"
#include "qres/io/files.h"
#include "qres/train/run_setup.h"
#include "qres/train/training_run.h"

namespace qres::train {

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
  options.channels_last = ChannelsLast();
  data::BatchOptions test_options = options;
  test_options.shuffle = false;
  test_options.drop_last = false;
  test_options.augment = false;
  QRES_ASSIGN_OR_RETURN(train_batches_,
                        CallTorch("batching the training set", [&] { return data::Batches(train_, options); }));
  QRES_ASSIGN_OR_RETURN(test_batches_,
                        CallTorch("batching the test set", [&] { return data::Batches(test_, test_options); }));
  for (const data::Dataset* set : {&train_, &test_}) {  // not --drop_last's fault
    if (set->size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(set->name, set == &train_ ? " training" : " test", " set (", set->source, ") holds no images"));
    }
  }
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
  const sched::SchedulerSpec schedule{
      config_.lr, config_.epochs, config_.schedule_per_batch ? train_batches_->size() : 1, config_.scheduler_params};
  QRES_ASSIGN_OR_RETURN(schedule_, sched::MakeLrSchedule(config_.scheduler, schedule));
  const optim::Quantizer* quantizer = optim::QuantizerOf(*optimizer_);
  if (config_.qp.has_value() &&
      (quantizer == nullptr || quantizer->options().schedule != optim::QuantSchedule::kBump)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "-qp ", *config_.qp,
        " has no effect: only the bump schedule of QSGD, QtAdam and QtAdamW reads it (this run: ", config_.algorithm,
        quantizer != nullptr ? absl::StrCat(", schedule=", optim::ToString(quantizer->options().schedule)) : "", ")"));
  }
  return absl::OkStatus();
}

absl::Status TrainingRun::ClaimOutputs() {
  QRES_ASSIGN_OR_RETURN(outputs_, RunOutputs::Find(config_));
  settings_ = RunSettings(config_, train_, test_);
  // Loaded and checked before anything is claimed or removed: a checkpoint that does not fit
  // leaves every file as it was.
  if (!outputs_.resume_checkpoint().empty()) QRES_RETURN_IF_ERROR(LoadResumedCheckpoint());
  if (scaler_ && position_.loss_scale > 0) scaler_->Restore(position_.loss_scale, position_.loss_scale_growth);
  if (!Lead()) return absl::OkStatus();  // rank 0 owns the outputs; the others only read the checkpoint
  return outputs_.Claim(config_);
}

absl::Status TrainingRun::LoadResumedCheckpoint() {
  std::string earlier_world_size;
  QRES_RETURN_IF_ERROR(LoadCheckpoint(outputs_.resume_checkpoint(), *net_, *optimizer_, *schedule_, position_,
                                      resumed_log_, settings_, earlier_world_size));
  if (position_.epoch >= config_.epochs && !outputs_.continues_own_files()) {
    return absl::InvalidArgumentError(absl::StrCat("--resume_from=", outputs_.resume_checkpoint(), " has trained ",
                                                   position_.epoch, " epochs already; --epochs=", config_.epochs,
                                                   " must be more to continue it"));
  }
  const std::string& world_size = settings_.at("world_size");
  resumed_line_ = absl::StrCat(
      "Resumed from ", outputs_.resume_checkpoint(), " at epoch ", position_.epoch + 1, ", batch ", position_.batch,
      earlier_world_size == world_size ? ""
                                       : absl::StrCat(", on ", world_size, " rank(s); it ran on ", earlier_world_size,
                                                      " (the same global batches; the sums round differently)"));
  return absl::OkStatus();
}

absl::Status TrainingRun::CheckRanksAgree() {
  if (ranks_->single()) return absl::OkStatus();
  Settings settings = settings_;
  // What the rank resumed: its position and the CRC-32 of its metrics so far (their seconds make
  // two runs' differ), so ranks resuming different checkpoints of one run are told apart.
  settings["resume"] = outputs_.resume_checkpoint().empty()
                           ? "none"
                           : absl::StrFormat("epoch %d batch %d, metrics %08x", position_.epoch + 1, position_.batch,
                                             io::Crc32(position_.metrics.data(), position_.metrics.size()));
  return ranks_->CheckSameSettings(settings);
}

void TrainingRun::StartReport() {
  OpenSinks();
  if (outputs_.resume_checkpoint().empty()) {
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
  report_.Line(absl::StrCat("Batches             : ", train_batches_->size(), " of ", config_.batch_size, ", shuffle ",
                            config_.shuffle ? "on" : "off", ", drop_last ", config_.drop_last ? "on" : "off",
                            ", augment ", config_.augment ? "on" : "off"));
  if (!ranks_->single()) {
    report_.Line(absl::StrCat(
        "Ranks               : ", ranks_->world_size(), " (c10d, ", ranks_->BackendName(device_.is_cuda()), "), ",
        config_.batch_size / ranks_->world_size(), " of each batch per rank, gradients summed ",
        config_.dist_bucket_mb > 0 ? absl::StrCat("in ", config_.dist_bucket_mb, " MiB buckets during backward")
                                   : "after backward"));
  }
  report_.Line(absl::StrCat("Device              : ", device_.str(), ", seed ", config_.seed, ", evaluation in ",
                            config_.train_mode_eval ? "train mode (reference)" : "eval mode",
                            config_.deterministic && device_.is_cuda() ? ", deterministic cuDNN" : ""));
  if (config_.precision != Precision::kFp32) {
    const bool emulated = device_.is_cpu() && config_.precision == Precision::kBf16 && !CpuHasNativeBf16();
    report_.Line(absl::StrCat("Precision           : ", ToString(config_.precision),
                              " autocast (forward and loss; fp32 weights and optimizer step)",
                              ChannelsLast() ? ", channels-last" : "",
                              emulated ? "; this CPU has no AVX512-BF16 or AMX: likely slower than fp32" : ""));
  }
  if (graphed_) {
    report_.Line(absl::StrCat("CUDA graphs         : each full batch's step replayed from one graph (after 3 run as ",
                              "they are): forward, backward",
                              optimizer_in_graph_
                                  ? " and the optimizer step"
                                  : absl::StrCat("; the optimizer step outside it (",
                                                 scaler_ ? "fp16's loss scaler" : "not the fused CUDA step", ")")));
  }
  report_.Line(absl::StrCat("Outputs             : ", outputs_.files().model, ", ", outputs_.files().log, ", ",
                            outputs_.files().error, ", ", outputs_.files().metrics));
  if (!event_file_.empty()) report_.Line(absl::StrCat("TensorBoard         : ", event_file_));
}

void TrainingRun::OpenSinks() {
  if (config_.progress) sinks_.push_back(std::make_unique<ProgressBar>());
  if (config_.tensorboard == "off" || !Lead()) return;
  // A fresh run replaces one of the same name: its events would mix in.
  std::unique_ptr<TensorBoardSink> tensorboard =
      TensorBoardSink::Open(EventDir(config_.tensorboard, config_.out_dir, outputs_.name()),
                            /*clear=*/!outputs_.continues_own_files(), config_.tensorboard_every);
  if (tensorboard == nullptr) return;
  event_file_ = tensorboard->path();
  sinks_.push_back(std::move(tensorboard));
}

absl::Status TrainingRun::JoinRanks() {
  if (!config_.ranks) return absl::OkStatus();
  const dist::Environment& env = *config_.ranks;
  if (config_.batch_size % env.world_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat("--batch_size=", config_.batch_size,
                                                   " (the global batch) does not split over ", env.world_size,
                                                   " ranks; give a multiple of ", env.world_size));
  }
  QRES_ASSIGN_OR_RETURN(const dist::Transport transport,
                        dist::ChooseTransport(config_.dist_backend, device_.is_cuda()));
  QRES_ASSIGN_OR_RETURN(ranks_, dist::DataParallel::Join(env, transport, std::chrono::seconds(config_.dist_timeout_s)));
  report_.set_silent(env.rank != 0 && !config_.dist_all_ranks_print);
  if (config_.dist_all_ranks_print) report_.set_prefix(absl::StrCat("[rank ", env.rank, "] "));
  std::vector<at::Tensor> state = net_->parameters();
  for (const at::Tensor& buffer : net_->buffers()) state.push_back(buffer);
  return ranks_->Broadcast(state);
}

}  // namespace qres::train
