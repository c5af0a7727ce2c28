#include "qres/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "ATen/Context.h"
#include "ATen/Parallel.h"
#include "ATen/ops/argmax.h"
#include "ATen/ops/cross_entropy_loss.h"
#include "ATen/ops/zeros.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "c10/core/GradMode.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/io/files.h"
#include "qres/io/metrics.h"
#include "qres/io/pickle.h"
#include "qres/train/model_file.h"
#include "qres/train/precision.h"
#include "qres/train/run_setup.h"
#include "qres/train/training_run.h"

namespace qres::train {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

}  // namespace

absl::Status TrainingRun::SetUp() {
  QRES_RETURN_IF_ERROR(config_.Validate());
  if (config_.threads > 0) at::set_num_threads(static_cast<int>(config_.threads));
  if (config_.deterministic) at::globalContext().setDeterministicCuDNN(true);
  device_ = PickDevice(config_.cuda, &device_note_, config_.ranks ? config_.ranks->local_rank : 0);
  if (device_.is_cuda() && device_.index() >= static_cast<int>(at::getNumGPUs())) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", config_.ranks->rank, " would train on GPU ",
                                                   device_.index(), " (LOCAL_RANK) but this machine has ",
                                                   at::getNumGPUs(), "; start at most that many ranks per machine"));
  }
  if (config_.precision == Precision::kFp16 && !device_.is_cuda()) {
    return absl::InvalidArgumentError("--precision=fp16 needs a GPU, and this run is on the CPU: use bf16");
  }
  if (config_.precision == Precision::kFp16) scaler_.emplace(device_);
  QRES_ASSIGN_OR_RETURN(const bool graphs, UseCudaGraphs());
  QRES_RETURN_IF_ERROR(LoadData());
  QRES_RETURN_IF_ERROR(BuildNetAndOptimizer());
  QRES_RETURN_IF_ERROR(JoinRanks());
  if (absl::Status claimed = ClaimOutputs(); !claimed.ok()) {
    ranks_->AnnounceSetupFailure(std::string(claimed.message()));  // the others stop waiting for it
    return claimed;
  }
  QRES_RETURN_IF_ERROR(CheckRanksAgree());
  QRES_RETURN_IF_ERROR(CallTorch("making the epoch's sums", [&] {
    epoch_loss_sum_ = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device_));
    epoch_correct_ = at::zeros({}, at::TensorOptions().dtype(at::kLong).device(device_));
  }));
  if (graphs) {
    graphed_ = std::make_unique<GraphedStep>(MakeStepGraph(device_), net_->parameters(), config_.batch_size);
    // The fused CUDA step goes in the graph too, unless fp16's loss scaler decides on the host
    // whether to step.
    if (!scaler_) optimizer_in_graph_ = OptimizerStepInGraph(*optimizer_);
  }
  StartReport();
  // Hooked to the parameters' gradient accumulators as they are after a resume's load.
  return ranks_->OverlapGradientSums(net_->parameters(), config_.dist_bucket_mb << 20);
}

absl::StatusOr<bool> TrainingRun::UseCudaGraphs() const {
  if (config_.cuda_graphs == CudaGraphs::kOff) return false;
  const bool registered = StepGraphRegistered(device_.type());
  const bool single = !config_.ranks.has_value();
  if (config_.cuda_graphs == CudaGraphs::kAuto) return device_.is_cuda() && registered && single;
  if (!registered) {
    return absl::InvalidArgumentError(
        device_.is_cuda() ? "--cuda_graphs=on: this train was built without CUDA (bazel build --config=cuda)"
                          : absl::StrCat("--cuda_graphs=on needs a GPU, and this run trains on the CPU",
                                         device_note_.empty() ? "" : absl::StrCat(" (", device_note_, ")"),
                                         "; use --cuda_graphs=off or auto"));
  }
  if (!single) {
    return absl::InvalidArgumentError(
        "--cuda_graphs=on does not work with data-parallel ranks (the gradient sums run between backward's kernels); "
        "use --cuda_graphs=off or auto");
  }
  return true;
}

at::Tensor TrainingRun::ForwardBackward(const at::Tensor& images, const at::Tensor& labels,
                                        const dist::BatchSlice& slice) {
  // In place under a graph: its backward writes the gradients where the optimizer reads them.
  optimizer_->zero_grad(/*set_to_none=*/!graphed_);
  at::Tensor loss;
  if (!slice.empty()) {
    const at::Tensor x = slice.whole() ? images : images.slice(0, slice.begin, slice.end);
    const at::Tensor y = slice.whole() ? labels : labels.slice(0, slice.begin, slice.end);
    at::Tensor output;
    {
      const AutocastScope autocast(config_.precision, device_);  // forward and loss, as torch.autocast
      output = net_->forward(x);
      loss = at::cross_entropy_loss(output, y);
    }
    at::NoGradGuard no_grad;
    const at::Tensor batch_loss = loss.detach().to(at::kDouble);
    epoch_loss_sum_ += slice.whole() ? batch_loss : batch_loss * slice.share();
    epoch_correct_ += at::argmax(output.detach(), 1).eq(y).sum();
  }  // backward runs with gradients on
  ranks_->Backward(loss.defined() && scaler_ ? scaler_->Scale(loss) : loss, slice, net_->parameters());
  return loss.defined() ? loss.detach() : loss;
}

absl::StatusOr<double> TrainingRun::TrainEpoch(const std::function<bool()>& should_stop) {
  const Clock::time_point epoch_start = Clock::now();
  const double time_before = position_.epoch_seconds;
  const int64_t batches = train_batches_->size();
  QRES_RETURN_IF_ERROR(CallTorch("starting the epoch", [&] {
    train_batches_->StartEpoch(position_.epoch);
    epoch_loss_sum_.zero_();
    epoch_correct_.zero_();
  }));
  int64_t seen_now = 0;
  at::Tensor last_loss;  // the last step's, for the step scalars
  // Folds the device-side sums into the progress (they wait for the device).
  auto collect = [&]() -> absl::Status {
    std::vector<double> sums(3);
    QRES_RETURN_IF_ERROR(CallTorch("reading the epoch's loss", [&] {
      sums = {epoch_loss_sum_.item<double>(), static_cast<double>(epoch_correct_.item<int64_t>()),
              static_cast<double>(seen_now)};
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
      KeepScalerInPosition();
      if (Lead()) {
        QRES_RETURN_IF_ERROR(SaveCheckpoint(outputs_.files().checkpoint, *net_, *optimizer_, *schedule_, position_,
                                            report_.text(), settings_));
        QRES_RETURN_IF_ERROR(io::WriteFileAtomically(outputs_.files().log, report_.text()));
      }
      return absl::CancelledError(
          absl::StrCat("interrupted; the checkpoint ", outputs_.files().checkpoint, " resumes with --resume"));
    }
    SetLr(schedule_->lr());
    // Every rank makes the same global batch (same order, same augmentation) and takes its slice;
    // the ranks' gradients sum to the whole batch's (one process has the whole batch).
    const std::string what =
        absl::StrCat("epoch ", position_.epoch + 1, " batch ", position_.batch + 1, ": the training step");
    QRES_RETURN_IF_ERROR(ranks_->Run(what, [&] {
      const data::Batch batch = train_batches_->Get(position_.batch);
      const dist::BatchSlice slice = ranks_->Slice(batch.labels.size(0));
      const at::Tensor loss = graphed_ ? graphed_->Run(
                                             batch.images, batch.labels,
                                             [&](const at::Tensor& images, const at::Tensor& labels) {
                                               return ForwardBackward(images, labels, slice);
                                             },
                                             optimizer_in_graph_ ? &*optimizer_in_graph_ : nullptr)
                                       : ForwardBackward(batch.images, batch.labels, slice);
      if (loss.defined()) last_loss = loss;
      seen_now += slice.end - slice.begin;
      if (optimizer_in_graph_) return;  // it stepped
      // A step the loss scaler skips changes neither the weights nor the optimizer's or quantizer's
      // state.
      if (!scaler_) {
        optimizer_->step();
        return;
      }
      if (scaler_->UnscaleAndCheck(net_->parameters())) {
        optimizer_->step();
      } else {
        ++skipped_steps_;
      }
      scaler_->Update();
    }));
    const int64_t step = position_.epoch * batches + position_.batch + 1;  // steps taken so far
    StepReport report;
    report.step = step;
    report.epoch = position_.epoch + 1;
    report.epochs = config_.epochs;
    report.batch = position_.batch + 1;
    report.batches = batches;
    report.lr = schedule_->lr();
    const double elapsed = Seconds(epoch_start);
    report.images_per_second = seen_now / std::max(elapsed, 1e-9);
    report.eta_seconds = elapsed / static_cast<double>(report.batch) * static_cast<double>(batches - report.batch);
    report.loss = [&last_loss] { return CallTorch("reading the loss", [&] { return last_loss.item<double>(); }); };
    report.quant_index = [this] { return QuantIndex(); };
    // One capture, so that std::function keeps it inline (no allocation per step).
    report.epoch_loss = [this]() -> absl::StatusOr<double> {
      QRES_ASSIGN_OR_RETURN(const double so_far,
                            CallTorch("reading the loss", [&] { return epoch_loss_sum_.item<double>(); }));
      return (position_.loss_sum + so_far) / static_cast<double>(position_.batch + 1);
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
    const bool kept = position_.epoch > 0 && io::FileExists(outputs_.files().checkpoint);
    // The options in effect, since the cause may be any of them (a momentum, a decay, a schedule).
    std::string options = absl::StrCat("--algo=", config_.algorithm, " --lr=", config_.lr);
    if (!config_.optim_params.empty()) absl::StrAppend(&options, " --optim_params=", config_.optim_params);
    if (!config_.quant_params.empty()) absl::StrAppend(&options, " --quant_params=", config_.quant_params);
    if (LrIsScheduled()) {
      absl::StrAppend(&options, " --scheduler=", config_.scheduler);
      if (!config_.scheduler_params.empty())
        absl::StrAppend(&options, " --scheduler_params=", config_.scheduler_params);
    }
    const std::string message =
        absl::StrCat("epoch ", position_.epoch + 1, ": the mean training loss is ", cost, ", the run diverged with ",
                     options, ": try a smaller --lr or other options",
                     kept ? absl::StrCat("; ", outputs_.files().checkpoint, " holds epoch ", position_.epoch) : "");
    report_.Line(message);
    if (Lead()) QRES_RETURN_IF_ERROR(io::WriteFileAtomically(outputs_.files().log, report_.text()));
    return absl::FailedPreconditionError(message);
  }
  position_.losses.push_back(cost);
  position_.train_seconds += epoch_seconds;
  QRES_RETURN_IF_ERROR(SynchronizeBuffersAndCheck());

  QRES_ASSIGN_OR_RETURN(evaluation_, EvaluateTestSet());
  const double train_accuracy = position_.seen ? static_cast<double>(position_.correct) / position_.seen : 0.0;
  const double images_per_second = position_.seen / std::max(epoch_seconds, 1e-9);
  // Current after this epoch's steps (on a GPU: the one wait for the device's index per epoch).
  const std::optional<double> index = QuantIndex();
  const double lr = optimizer_->param_groups()[0].options().get_lr();  // of the epoch's last batch
  std::string line = absl::StrFormat("[Epoch : %4d] cost = %.9f", position_.epoch + 1, cost);
  if (scaler_) {
    KeepScalerInPosition();
    absl::StrAppendFormat(&line, "  loss scale %g (%d steps skipped)", position_.loss_scale, skipped_steps_);
    skipped_steps_ = 0;
  }
  if (index.has_value()) absl::StrAppendFormat(&line, "  QP Index: %g", *index);
  if (LrIsScheduled()) absl::StrAppendFormat(&line, "  lr %.6g", lr);
  if (graphed_) {  // this epoch's, so that a graph captured again and again shows
    absl::StrAppendFormat(&line, "  graph replays %d, captures %d", graphed_->replays() - graph_counts_.first,
                          graphed_->captures() - graph_counts_.second);
    graph_counts_ = {graphed_->replays(), graphed_->captures()};
  }
  absl::StrAppendFormat(&line, "  train acc %.4f  test acc %.4f  %.1f s  %.0f img/s", train_accuracy,
                        evaluation_->accuracy(), epoch_seconds, images_per_second);
  report_.Line(line);
  if (graphed_ && graphed_->given_up() && !reported_graphs_given_up_) {
    report_.Line(absl::StrCat("CUDA graphs: the step was captured ", graphed_->captures(),
                              " times, as its optimizer launch kept changing; the run goes on without graphs"));
    reported_graphs_given_up_ = true;
  }
  io::EpochMetrics metrics;
  metrics.epoch = position_.epoch + 1;
  metrics.loss = cost;
  metrics.train_accuracy = train_accuracy;
  metrics.test_accuracy = evaluation_->accuracy();
  metrics.lr = lr;
  metrics.quant_index = index;
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
  Position next = position_;                           // the checkpoint resumes at the next epoch
  ++next.epoch;
  if (!Lead()) return absl::OkStatus();
  QRES_ASSIGN_OR_RETURN(std::string checkpoint, CheckpointBytes(outputs_.files().checkpoint, *net_, *optimizer_,
                                                                *schedule_, next, report_.text(), settings_));
  // One set, the checkpoint renamed last: a kill between two renames leaves the other files one
  // epoch ahead of the checkpoint, never behind it; report reads the checkpoint, and --resume
  // continues from it and rewrites them.
  return io::WriteFilesAtomically({{outputs_.files().metrics, position_.metrics},
                                   {outputs_.files().error, io::PickleFloatList(position_.losses)},
                                   {outputs_.files().log, report_.text()},
                                   {outputs_.files().checkpoint, std::move(checkpoint)}});
}

void TrainingRun::KeepScalerInPosition() {
  if (!scaler_) return;
  position_.loss_scale = scaler_->scale();
  position_.loss_scale_growth = scaler_->growth_tracker();
}

std::optional<double> TrainingRun::QuantIndex() {
  const optim::Quantizer* quantizer = optim::QuantizerOf(*optimizer_);
  if (quantizer == nullptr) return std::nullopt;
  return quantizer->index();
}

absl::StatusOr<Evaluation> TrainingRun::EvaluateTestSet() {
  const AutocastScope autocast(config_.precision, device_);  // the run's precision
  if (ranks_->single() || config_.train_mode_eval) {
    return EvaluateBatches(*net_, *test_batches_, test_.classes, config_.train_mode_eval);
  }
  QRES_ASSIGN_OR_RETURN(Evaluation evaluation,
                        EvaluateBatches(*net_, *test_batches_, test_.classes, /*train_mode=*/false, ranks_->rank(),
                                        ranks_->world_size()));
  QRES_RETURN_IF_ERROR(ranks_->Run("summing the evaluation", [&] {
    ranks_->SumInPlace(evaluation.confusion);
    evaluation.samples = evaluation.confusion.sum().item<int64_t>();
    evaluation.correct = evaluation.confusion.diagonal().sum().item<int64_t>();
  }));
  return evaluation;
}

absl::Status TrainingRun::SynchronizeBuffersAndCheck() {
  if (ranks_->single()) return absl::OkStatus();  // before the index's read, a device read on a GPU
  return ranks_->SyncBuffersAndCheck(net_->parameters(), net_->buffers(), QuantIndex().value_or(0.0),
                                     position_.epoch + 1);
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
  QRES_RETURN_IF_ERROR(SaveModelFile(outputs_.files().model, *net_, settings_));
  report_.Line(absl::StrCat("Saved model         : ", outputs_.files().model));
  return io::WriteFileAtomically(outputs_.files().log, report_.text());
}

absl::Status TrainingRun::Run(const std::function<bool()>& should_stop) {
  net_->train();
  for (; position_.epoch < config_.epochs; ++position_.epoch) {
    QRES_ASSIGN_OR_RETURN(const double epoch_seconds, TrainEpoch(should_stop));
    QRES_RETURN_IF_ERROR(EndEpoch(epoch_seconds));
  }
  return Finish();
}

absl::Status Train(const TrainConfig& config, const std::function<bool()>& should_stop) {
  TrainingRun run(config);
  QRES_RETURN_IF_ERROR(run.SetUp());
  return run.Run(should_stop);
}

}  // namespace qres::train
