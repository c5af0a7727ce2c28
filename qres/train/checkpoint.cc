#include "qres/train/checkpoint.h"

#include <sstream>

#include "ATen/ops/tensor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/io/archive_check.h"
#include "qres/io/files.h"
#include "qres/io/run_layout.h"
#include "qres/io/settings_text.h"
#include "torch/serialize.h"

namespace qres::train {
namespace {

// The shortest text that reads back as `value` exactly.
std::string ShortestDouble(double value) {
  for (int digits = 6; digits < 17; ++digits) {
    const std::string text = absl::StrFormat("%.*g", digits, value);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

// The first setting that the checkpoint's run (`stored`, SettingsText) had otherwise; settings it
// does not name (an older version's) are not compared. The world size may change: every rank holds
// the same state and the batches are global, so a run resumes on any number of ranks (the
// gradients' sums then round differently). Returns the stored world size ("1" if none).
absl::StatusOr<std::string> CheckSameSettings(const std::string& stored, const Settings& now, const std::string& path) {
  std::string world_size = "1";
  for (const auto& [key, before] : io::ParseSettingsText(stored)) {
    if (key == "world_size") {
      world_size = before;
      continue;
    }
    const auto it = now.find(key);
    // The epochs are in the run's name (--resume_from continues for more).
    if (key == "epochs" || it == now.end() || it->second == before) continue;
    if (key == "data") {
      return absl::FailedPreconditionError(
          absl::StrCat("--resume: ", path, " was made on other data of the same name and size (checksums ", before,
                       "; this run's --data_dir gives ", it->second, "); resume with the run's own data"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("--resume: ", path, " was made with --", key, "=", before, ", this run has --", key, "=",
                     it->second, "; resume with the run's own settings, or start over in another --out_dir"));
  }
  return world_size;
}

}  // namespace

Settings RunSettings(const TrainConfig& config, const data::Dataset& train, const data::Dataset& test) {
  Settings settings;
  auto add = [&](const std::string& key, const auto& value) { settings[key] = absl::StrCat(value); };
  add("dataset", data::DataSetSetting(train));
  add("data", data::DataChecksums(train, test));
  add("net", config.net);
  add("net_params", config.net_params);
  add("algo", config.algorithm);
  add("lr", ShortestDouble(config.lr));
  add("batch_size", config.batch_size);
  add("seed", config.seed);
  add("qp", config.qp.value_or(0));
  add("optim_params", config.optim_params);
  add("quant_params", config.quant_params);
  add("scheduler", config.scheduler);
  add("scheduler_params", config.scheduler_params);
  add("scheduler_interval", config.schedule_per_batch ? "batch" : "epoch");
  add("shuffle", config.shuffle ? "true" : "false");
  add("drop_last", config.drop_last ? "true" : "false");
  add("augment", config.augment ? "true" : "false");
  add("normalize", config.mean_std ? "meanstd" : "reference");
  add("eval_bn", config.train_mode_eval ? "train" : "eval");
  add("world_size", config.ranks ? config.ranks->world_size : 1);
  add("epochs", config.epochs);  // what the run is for: report leaves a run that stopped short out
  add("precision", ToString(config.precision));
  return settings;
}

absl::StatusOr<std::string> CheckpointBytes(const std::string& path, models::Net& net,
                                            torch::optim::Optimizer& optimizer, const sched::LrSchedule& schedule,
                                            const Position& position, const std::string& log,
                                            const Settings& settings) {
  return CallTorch(absl::StrCat("writing checkpoint ", path), [&] {
    torch::serialize::OutputArchive archive;
    torch::serialize::OutputArchive model_archive, optimizer_archive;
    net.save(model_archive);
    optimizer.save(optimizer_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optimizer_archive);
    archive.write("position", at::tensor({position.epoch, position.batch, position.correct, position.seen}));
    archive.write("times",
                  at::tensor({position.loss_sum, position.epoch_seconds, position.train_seconds}, at::kDouble));
    archive.write("losses", at::tensor(position.losses, at::kDouble));
    archive.write(io::run_layout::kMetricsRecord, c10::IValue(position.metrics));
    archive.write("log", c10::IValue(log));
    archive.write(io::run_layout::kSettingsRecord, c10::IValue(io::SettingsText(settings)));
    archive.write("schedule", at::tensor({schedule.steps()}));
    archive.write("schedule_lr", at::tensor({schedule.lr()}, at::kDouble));
    if (position.loss_scale > 0) {
      archive.write("loss_scaler",
                    at::tensor({position.loss_scale, static_cast<double>(position.loss_scale_growth)}, at::kDouble));
    }
    std::ostringstream bytes;
    archive.save_to(bytes);
    return bytes.str();
  });
}

absl::Status SaveCheckpoint(const std::string& path, models::Net& net, torch::optim::Optimizer& optimizer,
                            const sched::LrSchedule& schedule, const Position& position, const std::string& log,
                            const Settings& settings) {
  QRES_ASSIGN_OR_RETURN(const std::string bytes,
                        CheckpointBytes(path, net, optimizer, schedule, position, log, settings));
  return io::WriteFileAtomically(path, bytes);
}

absl::Status LoadCheckpoint(const std::string& path, models::Net& net, torch::optim::Optimizer& optimizer,
                            sched::LrSchedule& schedule, Position& position, std::string& log, const Settings& settings,
                            std::string& world_size) {
  QRES_ASSIGN_OR_RETURN(const std::string bytes, io::ReadRegularFile(path));
  QRES_RETURN_IF_ERROR(io::CheckArchive(bytes, absl::StrCat("checkpoint ", path)));
  torch::serialize::InputArchive archive;
  // The settings' text; empty in an older version's checkpoint, which has none.
  QRES_ASSIGN_OR_RETURN(
      const std::string stored_settings, CallTorch(absl::StrCat("checkpoint ", path, ": not a qres checkpoint"), [&] {
        std::istringstream stream(bytes);
        archive.load_from(stream);
        c10::IValue value;
        return archive.try_read(io::run_layout::kSettingsRecord, value) ? value.toStringRef() : std::string();
      }));
  QRES_ASSIGN_OR_RETURN(world_size, CheckSameSettings(stored_settings, settings, path));
  return CallTorch(absl::StrCat("reading checkpoint ", path), [&] {
    torch::serialize::InputArchive model_archive, optimizer_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optimizer_archive);
    net.load(model_archive);
    optimizer.load(optimizer_archive);
    at::Tensor stored_position, times, losses;
    archive.read("position", stored_position);
    archive.read("times", times);
    archive.read("losses", losses);
    position.epoch = stored_position[0].item<int64_t>();
    position.batch = stored_position[1].item<int64_t>();
    position.correct = stored_position[2].item<int64_t>();
    position.seen = stored_position[3].item<int64_t>();
    position.loss_sum = times[0].item<double>();
    position.epoch_seconds = times[1].item<double>();
    position.train_seconds = times[2].item<double>();
    losses = losses.contiguous();
    position.losses.assign(losses.data_ptr<double>(), losses.data_ptr<double>() + losses.numel());
    c10::IValue metrics, text;
    archive.read(io::run_layout::kMetricsRecord, metrics);
    archive.read("log", text);
    position.metrics = metrics.toStringRef();
    log = text.toStringRef();
    at::Tensor scaler;  // an fp16 run's
    if (archive.try_read("loss_scaler", scaler)) {
      position.loss_scale = scaler[0].item<double>();
      position.loss_scale_growth = static_cast<int64_t>(scaler[1].item<double>());
    }
    at::Tensor schedule_steps, schedule_lr;  // absent in an older version's checkpoint: constant lr
    if (archive.try_read("schedule", schedule_steps) && archive.try_read("schedule_lr", schedule_lr)) {
      schedule.Restore(schedule_steps.item<int64_t>(), schedule_lr.item<double>());
    }
  });
}

}  // namespace qres::train
