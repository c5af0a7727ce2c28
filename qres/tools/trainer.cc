#include "qres/tools/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "ATen/Parallel.h"
#include "ATen/ops/argmax.h"
#include "ATen/ops/cross_entropy_loss.h"
#include "ATen/ops/tensor.h"
#include "ATen/ops/zeros.h"
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
#include "qres/models/model.h"
#include "qres/optim/optimizer.h"
#include "qres/tools/archive_check.h"
#include "qres/tools/evaluation.h"
#include "qres/tools/model_file.h"
#include "qres/tools/outputs.h"
#include "qres/tools/run_setup.h"
#include "torch/serialize.h"

namespace qres::tools {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// Prints to stdout and keeps every line for the operation log.
class Reporter {
 public:
  void Line(const std::string& line) {
    std::cout << line << std::endl;
    text_ += line + "\n";
  }
  const std::string& text() const { return text_; }
  void set_text(std::string text) { text_ = std::move(text); }

 private:
  std::string text_;
};

std::string FormatDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::lround(seconds));
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

// Where a run is: saved in the checkpoint so that a resumed run continues exactly.
struct Progress {
  int64_t epoch = 0;       // the epoch in progress
  int64_t batch = 0;       // the next batch of that epoch
  double loss_sum = 0.0;   // over the epoch's finished batches
  int64_t correct = 0;     // training predictions of the epoch so far
  int64_t seen = 0;
  double epoch_seconds = 0.0;    // time spent in this epoch before an interruption
  double train_seconds = 0.0;    // all finished epochs
  std::vector<double> losses;    // per finished epoch: the error trend
  std::string metrics;           // the jsonl lines so far
};

struct RunFiles {
  std::string model, log, error, metrics, checkpoint;
};

// The shortest text that reads back as `value` exactly.
std::string ShortestDouble(double value) {
  for (int digits = 6; digits < 17; ++digits) {
    const std::string text = absl::StrFormat("%.*g", digits, value);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

// What must not change between a run and its resumption, as "key=value" lines (the keys name
// the flags). Stored in the checkpoint.
std::string RunSettings(const TrainConfig& config, const data::Dataset& train) {
  std::string text;
  auto add = [&](const std::string& key, const auto& value) { absl::StrAppend(&text, key, "=", value, "\n"); };
  add("dataset", absl::StrCat(config.dataset, " (", train.size(), " training images)"));
  add("net", config.net);
  add("net_params", config.net_params);
  add("algo", config.algorithm);
  add("lr", ShortestDouble(config.lr));
  add("batch_size", config.batch_size);
  add("seed", config.seed);
  add("qp", config.qp.value_or(0));
  add("optim_params", config.optim_params);
  add("quant_params", config.quant_params);
  add("shuffle", config.shuffle ? "true" : "false");
  add("drop_last", config.drop_last ? "true" : "false");
  add("augment", config.augment ? "true" : "false");
  add("normalize", config.mean_std ? "meanstd" : "reference");
  add("eval_bn", config.train_mode_eval ? "train" : "eval");
  return text;
}

// The first setting of `now` that `stored` (RunSettings of the checkpoint's run) has otherwise.
absl::Status CheckSameSettings(const std::string& stored, const std::string& now, const std::string& path) {
  std::map<std::string, std::string> before;
  for (absl::string_view line : absl::StrSplit(stored, '\n', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> entry = absl::StrSplit(line, absl::MaxSplits('=', 1));
    before.insert(entry);
  }
  for (absl::string_view line : absl::StrSplit(now, '\n', absl::SkipEmpty())) {
    const std::pair<std::string, std::string> entry = absl::StrSplit(line, absl::MaxSplits('=', 1));
    const auto it = before.find(entry.first);
    if (it != before.end() && it->second != entry.second) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--resume: ", path, " was made with --", entry.first, "=", it->second, ", this run has --", entry.first, "=",
          entry.second, "; resume with the run's own settings, or start over in another --out_dir"));
    }
  }
  return absl::OkStatus();
}

absl::Status SaveCheckpoint(const std::string& path, models::Net& net,
                            torch::optim::Optimizer& optimizer, const Progress& progress,
                            const std::string& log, const std::string& settings) {
  return CallTorch(absl::StrCat("writing checkpoint ", path), [&]() -> absl::Status {
    torch::serialize::OutputArchive archive;
    torch::serialize::OutputArchive model_archive, optimizer_archive;
    net.save(model_archive);
    optimizer.save(optimizer_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optimizer_archive);
    archive.write("position", at::tensor({progress.epoch, progress.batch, progress.correct,
                                          progress.seen}));
    archive.write("times", at::tensor({progress.loss_sum, progress.epoch_seconds,
                                       progress.train_seconds}, at::kDouble));
    archive.write("losses", at::tensor(progress.losses, at::kDouble));
    archive.write("metrics", c10::IValue(progress.metrics));
    archive.write("log", c10::IValue(log));
    archive.write("settings", c10::IValue(settings));
    std::ostringstream bytes;
    archive.save_to(bytes);
    return WriteFileAtomically(path, bytes.str());
  });
}

// Loads the checkpoint after checking every record's CRC and that it was made with `settings`.
absl::Status LoadCheckpoint(const std::string& path, models::Net& net,
                            torch::optim::Optimizer& optimizer, Progress& progress,
                            std::string& log, const std::string& settings) {
  QRES_ASSIGN_OR_RETURN(const std::string bytes, ReadWholeFile(path));
  QRES_RETURN_IF_ERROR(CheckArchive(bytes, absl::StrCat("checkpoint ", path)));
  torch::serialize::InputArchive archive;
  QRES_RETURN_IF_ERROR(CallTorch(absl::StrCat("checkpoint ", path, ": not a qres checkpoint"), [&] {
    std::istringstream stream(bytes);
    archive.load_from(stream);
  }));
  QRES_ASSIGN_OR_RETURN(const std::optional<std::string> stored_settings,
                        CallTorch(absl::StrCat("reading checkpoint ", path), [&]() -> std::optional<std::string> {
                          c10::IValue value;
                          if (!archive.try_read("settings", value)) return std::nullopt;  // older versions
                          return value.toStringRef();
                        }));
  if (stored_settings.has_value()) QRES_RETURN_IF_ERROR(CheckSameSettings(*stored_settings, settings, path));
  return CallTorch(absl::StrCat("reading checkpoint ", path), [&] {
    torch::serialize::InputArchive model_archive, optimizer_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    net.load(model_archive);
    optimizer.load(optimizer_archive);
    at::Tensor position, times, losses;
    archive.read("position", position);
    archive.read("times", times);
    archive.read("losses", losses);
    progress.epoch = position[0].item<int64_t>();
    progress.batch = position[1].item<int64_t>();
    progress.correct = position[2].item<int64_t>();
    progress.seen = position[3].item<int64_t>();
    progress.loss_sum = times[0].item<double>();
    progress.epoch_seconds = times[1].item<double>();
    progress.train_seconds = times[2].item<double>();
    losses = losses.contiguous();
    progress.losses.assign(losses.data_ptr<double>(), losses.data_ptr<double>() + losses.numel());
    c10::IValue metrics, text;
    archive.read("metrics", metrics);
    archive.read("log", text);
    progress.metrics = metrics.toStringRef();
    log = text.toStringRef();
  });
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

}  // namespace

std::string RunName(const TrainConfig& config) {
  return absl::StrCat(config.net, config.algorithm, config.epochs);
}

absl::Status Train(const TrainConfig& input, const std::function<bool()>& should_stop) {
  TrainConfig config = input;
  if (config.epochs <= 0) return absl::InvalidArgumentError(absl::StrCat("--epochs=", config.epochs, " must be > 0"));
  if (!(config.lr >= 0.0) || !std::isfinite(config.lr)) {
    return absl::InvalidArgumentError(absl::StrCat("--lr=", config.lr, " must be a finite number >= 0"));
  }
  if (config.batch_size < 0) return absl::InvalidArgumentError(absl::StrCat("--batch_size=", config.batch_size, " must be > 0"));
  if (config.threads > 0) at::set_num_threads(static_cast<int>(config.threads));

  std::string device_note;
  const c10::Device device = PickDevice(config.cuda, &device_note);

  // Resolve names through the registries first, so a typo fails before any data is read.
  QRES_ASSIGN_OR_RETURN(auto dataset_entry, data::DatasetRegistry::Find(config.dataset));
  config.dataset = dataset_entry->name;
  QRES_ASSIGN_OR_RETURN(auto algorithm_entry, optim::OptimizerRegistry::Find(config.algorithm));
  config.algorithm = algorithm_entry->name;

  QRES_ASSIGN_OR_RETURN(data::Dataset train, data::LoadDataset(config.dataset, config.data_dir, data::Split::kTrain));
  QRES_ASSIGN_OR_RETURN(data::Dataset test, data::LoadDataset(config.dataset, config.data_dir, data::Split::kTest));
  if (config.net.empty()) config.net = DefaultNet(train);
  QRES_ASSIGN_OR_RETURN(auto net_entry, models::ModelRegistry::Find(config.net));
  config.net = net_entry->name;
  if (config.batch_size == 0) config.batch_size = train.default_batch_size;

  const std::string proc = RunName(config);
  RunFiles files{JoinPath(config.out_dir, absl::StrCat("torch_nn02", proc, ".pt")),
                 JoinPath(config.out_dir, absl::StrCat("operation_", proc, ".txt")),
                 JoinPath(config.out_dir, absl::StrCat("error_", proc, ".pickle")),
                 JoinPath(config.out_dir, absl::StrCat("metrics_", proc, ".jsonl")),
                 JoinPath(config.out_dir, absl::StrCat("checkpoint_", proc, ".pt"))};

  at::manual_seed(config.seed);
  QRES_ASSIGN_OR_RETURN(std::shared_ptr<models::Net> net,
                        models::CreateModel(config.net, SpecFor(train, config.net_params)));
  QRES_RETURN_IF_ERROR(CallTorch("moving the net to the device", [&] { net->to(device); }));

  data::BatchOptions batch_options;
  batch_options.batch_size = config.batch_size;
  batch_options.shuffle = config.shuffle;
  batch_options.drop_last = config.drop_last;
  batch_options.augment = config.augment;
  batch_options.seed = config.seed;
  batch_options.normalization = config.mean_std ? data::Normalization::kMeanStd : train.normalization;
  batch_options.device = device;
  data::BatchOptions test_options = batch_options;
  test_options.shuffle = false;
  test_options.drop_last = false;
  test_options.augment = false;
  QRES_ASSIGN_OR_RETURN(data::Batches train_batches,
                        CallTorch("batching the training set", [&] { return data::Batches(train, batch_options); }));
  QRES_ASSIGN_OR_RETURN(data::Batches test_batches,
                        CallTorch("batching the test set", [&] { return data::Batches(test, test_options); }));
  if (train_batches.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat("--batch_size=", config.batch_size, " leaves no batch of ",
                                                   train.size(), " training images (drop_last)"));
  }

  optim::OptimizerSpec spec;
  spec.lr = config.lr;
  spec.qp = config.qp.value_or(0);
  spec.optim_params = config.optim_params;
  spec.quant_params = config.quant_params;
  spec.batches_per_epoch = train_batches.size();
  spec.epochs = config.epochs;
  QRES_ASSIGN_OR_RETURN(auto optimizer, optim::OptimizerRegistry::Create(config.algorithm, net->parameters(), spec));
  const optim::Quantizer* quantizer = optim::QuantizerOf(*optimizer);
  if (config.qp.has_value() && (quantizer == nullptr || quantizer->options().schedule != optim::QuantSchedule::kBump)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "-qp ", *config.qp, " has no effect: only the bump schedule of QSGD, QtAdam and QtAdamW reads it (this run: ",
        config.algorithm, quantizer != nullptr ? absl::StrCat(", schedule=", optim::ToString(quantizer->options().schedule)) : "", ")"));
  }
  // Created only now that everything else checked out: a bad flag leaves nothing behind.
  QRES_RETURN_IF_ERROR(CreateOutputDirectory(config.out_dir));
  // The run's outputs are one set: one process writes them, and a new run never mixes its files
  // with an older run's of the same name.
  const std::vector<std::string> outputs = {files.model, files.log, files.error, files.metrics, files.checkpoint};
  QRES_ASSIGN_OR_RETURN(const std::unique_ptr<RunLock> lock, RunLock::Acquire(config.out_dir, proc, outputs));
  const bool resuming = config.resume && access(files.checkpoint.c_str(), F_OK) == 0;
  if (!resuming) {
    std::vector<std::string> existing;
    for (const std::string& file : outputs) {
      if (access(file.c_str(), F_OK) == 0) existing.push_back(file);
    }
    if (!existing.empty() && !config.overwrite) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--out_dir=", config.out_dir, " already holds run ", proc, " (", absl::StrJoin(existing, ", "),
          "); give --overwrite to replace it, --resume to continue it, or another --out_dir"));
    }
    for (const std::string& file : existing) std::remove(file.c_str());
  }

  const std::string settings = RunSettings(config, train);
  Reporter report;
  Progress progress;
  bool resumed = false;
  if (resuming) {
    std::string log;
    QRES_RETURN_IF_ERROR(LoadCheckpoint(files.checkpoint, *net, *optimizer, progress, log, settings));
    report.set_text(log);
    resumed = true;
  }

  if (!resumed) {
    report.Line("====================================================");
    report.Line("qres train: learning with monotonically increasing resolution of quantization");
    report.Line("====================================================");
    if (!device_note.empty()) report.Line(device_note);
    report.Line(absl::StrCat("Data set            : ", train.name, " (", train.size(), " train, ", test.size(), " test; ", train.source, ")"));
    report.Line(absl::StrCat("Net                 : ", net->Describe()));
    report.Line(absl::StrCat("Algorithm           : ", config.algorithm, ", lr ", config.lr,
                             config.optim_params.empty() ? "" : absl::StrCat(", ", config.optim_params)));
    if (const std::optional<optim::StepPath> path = optim::StepPathOf(*optimizer); path.has_value()) {
      report.Line(absl::StrCat("Optimizer step      : ", optim::ToString(*path)));
    }
    if (quantizer != nullptr) {
      report.Line(absl::StrCat("Quantization        : ", quantizer->options().Describe()));
      report.Line(absl::StrFormat("Initial QP          : %g (index %g)", quantizer->resolution(), quantizer->index()));
    }
    report.Line(absl::StrCat("Batches             : ", train_batches.size(), " of ", config.batch_size,
                             ", shuffle ", config.shuffle ? "on" : "off", ", drop_last ",
                             config.drop_last ? "on" : "off", ", augment ", config.augment ? "on" : "off"));
    report.Line(absl::StrCat("Device              : ", device.str(), ", seed ", config.seed,
                             ", evaluation in ", config.train_mode_eval ? "train mode (reference)" : "eval mode"));
    report.Line(absl::StrCat("Outputs             : ", files.model, ", ", files.log, ", ", files.error, ", ", files.metrics));
  } else {
    report.Line(absl::StrCat("Resumed from ", files.checkpoint, " at epoch ", progress.epoch + 1, ", batch ", progress.batch));
  }

  const int64_t batches = train_batches.size();
  std::optional<Evaluation> evaluation;  // of the last epoch trained in this process
  net->train();
  for (; progress.epoch < config.epochs; ++progress.epoch) {
    const Clock::time_point epoch_start = Clock::now();
    const double time_before = progress.epoch_seconds;
    at::Tensor loss_sum, correct;  // summed on the device, read at the epoch's end
    QRES_RETURN_IF_ERROR(CallTorch("starting the epoch", [&] {
      train_batches.StartEpoch(progress.epoch);
      loss_sum = at::zeros({}, at::TensorOptions().dtype(at::kDouble).device(device));
      correct = at::zeros({}, at::TensorOptions().dtype(at::kLong).device(device));
    }));
    // Folds the device-side sums into `progress` (they wait for the device).
    auto collect = [&] {
      return CallTorch("reading the epoch's loss", [&] {
        progress.loss_sum += loss_sum.item<double>();
        progress.correct += correct.item<int64_t>();
      });
    };
    int64_t seen_now = 0;
    for (; progress.batch < batches; ++progress.batch) {
      if (should_stop && should_stop()) {
        if (config.progress) ClearProgressBar();
        QRES_RETURN_IF_ERROR(collect());
        progress.seen += seen_now;
        progress.epoch_seconds = time_before + Seconds(epoch_start);
        report.Line(absl::StrCat("Interrupted at epoch ", progress.epoch + 1, ", batch ", progress.batch,
                                 "; continue with --resume"));
        QRES_RETURN_IF_ERROR(SaveCheckpoint(files.checkpoint, *net, *optimizer, progress, report.text(), settings));
        QRES_RETURN_IF_ERROR(WriteFileAtomically(files.log, report.text()));
        return absl::CancelledError(absl::StrCat("interrupted; the checkpoint ", files.checkpoint,
                                                 " resumes with --resume"));
      }
      absl::Status step = CallTorch("training step", [&] {
        data::Batch batch = train_batches.Get(progress.batch);
        optimizer->zero_grad();
        at::Tensor output = net->forward(batch.images);
        at::Tensor loss = at::cross_entropy_loss(output, batch.labels);
        loss.backward();
        optimizer->step();
        at::NoGradGuard no_grad;
        loss_sum += loss.detach().to(at::kDouble);
        correct += at::argmax(output.detach(), 1).eq(batch.labels).sum();
        seen_now += batch.labels.size(0);
      });
      QRES_RETURN_IF_ERROR(step);
      if (config.progress && (progress.batch % 10 == 9 || progress.batch + 1 == batches)) {
        const double elapsed = Seconds(epoch_start);
        const double done = static_cast<double>(progress.batch + 1);
        QRES_ASSIGN_OR_RETURN(const double epoch_loss_so_far,
                              CallTorch("reading the loss", [&] { return loss_sum.item<double>(); }));
        const double loss = (progress.loss_sum + epoch_loss_so_far) / done;
        DrawProgressBar(progress.epoch + 1, config.epochs, progress.batch + 1, batches, loss,
                        seen_now / std::max(elapsed, 1e-9),
                        elapsed / std::max<double>(done, 1) * (batches - done));
      }
    }
    if (config.progress) ClearProgressBar();
    QRES_RETURN_IF_ERROR(collect());
    progress.seen += seen_now;
    const double epoch_seconds = time_before + Seconds(epoch_start);
    const double cost = progress.loss_sum / batches;
    if (!std::isfinite(cost)) {
      // The outputs stay those of the last good epoch: its checkpoint, metrics and error trend.
      const bool kept = progress.epoch > 0 && access(files.checkpoint.c_str(), F_OK) == 0;
      const std::string message = absl::StrCat(
          "epoch ", progress.epoch + 1, ": the mean training loss is ", cost, ", the run diverged; try a smaller --lr (this run: ",
          config.lr, ")", kept ? absl::StrCat("; ", files.checkpoint, " holds epoch ", progress.epoch) : "");
      report.Line(message);
      QRES_RETURN_IF_ERROR(WriteFileAtomically(files.log, report.text()));
      return absl::FailedPreconditionError(message);
    }
    progress.losses.push_back(cost);
    progress.train_seconds += epoch_seconds;

    QRES_ASSIGN_OR_RETURN(evaluation, Evaluate(*net, test_batches, test.classes, config.train_mode_eval));
    const double train_accuracy = progress.seen ? static_cast<double>(progress.correct) / progress.seen : 0.0;
    const double images_per_second = progress.seen / std::max(epoch_seconds, 1e-9);
    std::string line = absl::StrFormat("[Epoch : %4d] cost = %.9f", progress.epoch + 1, cost);
    if (quantizer != nullptr) absl::StrAppendFormat(&line, "  QP Index: %g", quantizer->index());
    absl::StrAppendFormat(&line, "  train acc %.4f  test acc %.4f  %.1f s  %.0f img/s", train_accuracy,
                          evaluation->accuracy(), epoch_seconds, images_per_second);
    report.Line(line);
    progress.metrics += absl::StrFormat(
        "{\"epoch\": %d, \"loss\": %.9g, \"train_accuracy\": %.6f, \"test_accuracy\": %.6f, "
        "\"lr\": %.9g, \"quant_index\": %s, \"seconds\": %.3f, \"images_per_second\": %.1f}\n",
        progress.epoch + 1, cost, train_accuracy, evaluation->accuracy(), optimizer->param_groups()[0].options().get_lr(),
        quantizer != nullptr ? absl::StrFormat("%.6g", quantizer->index()) : "null", epoch_seconds,
        images_per_second);

    progress.batch = 0;
    progress.loss_sum = 0;
    progress.correct = 0;
    progress.seen = 0;
    progress.epoch_seconds = 0;
    Progress next = progress;
    ++next.epoch;
    QRES_RETURN_IF_ERROR(SaveCheckpoint(files.checkpoint, *net, *optimizer, next, report.text(), settings));
    QRES_RETURN_IF_ERROR(WriteFileAtomically(files.metrics, progress.metrics));
    QRES_RETURN_IF_ERROR(WriteFileAtomically(files.error, PickleFloatList(progress.losses)));
    QRES_RETURN_IF_ERROR(WriteFileAtomically(files.log, report.text()));
  }

  // The last epoch's evaluation is the final one (evaluated again only when a resumed run had no
  // epoch left to train).
  if (!evaluation) {
    QRES_ASSIGN_OR_RETURN(evaluation, Evaluate(*net, test_batches, test.classes, config.train_mode_eval));
  }
  report.Line("Test Mode : Testing");
  report.Line(absl::StrCat("Total samples       : ", evaluation->samples));
  report.Line(absl::StrCat("Right Score         : ", evaluation->correct));
  report.Line(absl::StrFormat("Accuracy            : %.6f", evaluation->accuracy()));
  report.Line(absl::StrFormat("Total Learning Time : %.2f s", progress.train_seconds));
  report.Line(absl::StrFormat("Average per Epoch   : %.2f s", progress.train_seconds / config.epochs));
  QRES_RETURN_IF_ERROR(SaveModelFile(files.model, *net));
  report.Line(absl::StrCat("Saved model         : ", files.model));
  QRES_RETURN_IF_ERROR(WriteFileAtomically(files.log, report.text()));
  return absl::OkStatus();
}

}  // namespace qres::tools
