#include "qres/train/evaluator.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "qres/base/status_macros.h"
#include "qres/base/torch_status.h"
#include "qres/data/batches.h"
#include "qres/data/dataset.h"
#include "qres/io/files.h"
#include "qres/io/metrics.h"
#include "qres/io/pickle.h"
#include "qres/io/plot.h"
#include "qres/models/model.h"
#include "qres/train/evaluation.h"
#include "qres/train/model_file.h"
#include "qres/train/run_files.h"
#include "qres/train/run_setup.h"

namespace qres::train {
namespace {

std::string ReplaceSuffix(const std::string& path, const std::string& suffix) {
  const size_t slash = path.rfind('/');
  const size_t dot = path.rfind('.');
  const std::string stem =
      (dot != std::string::npos && (slash == std::string::npos || dot > slash)) ? path.substr(0, dot) : path;
  return stem + suffix;
}

}  // namespace

absl::Status EvaluateModel(const EvaluateConfig& config) {
  if (config.model_file.empty()) {
    return absl::InvalidArgumentError("no model file: give -m/--model_file (e.g. torch_nn02CNNQtAdamW5.pt)");
  }
  QRES_RETURN_IF_ERROR(io::CheckRegularFile(config.model_file, "model file"));
  if (config.plot_points <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("-p ", config.plot_points, " must be > 0"));
  }
  // Every output's place is checked before the evaluation, so a bad one costs nothing and leaves
  // nothing half-done.
  const bool plotting = config.plot && !config.error_file.empty();
  if (plotting) QRES_RETURN_IF_ERROR(io::CheckRegularFile(config.error_file, "error trend file (-e)"));
  const std::string plot_file = !plotting                  ? ""
                                : config.plot_file.empty() ? ReplaceSuffix(config.error_file, ".png")
                                                           : config.plot_file;
  if (plotting) {
    QRES_RETURN_IF_ERROR(io::CheckOutputName(plot_file, "plot file"));
    QRES_ASSIGN_OR_RETURN(const io::PathKind kind, io::KindOf(plot_file));
    if (kind == io::PathKind::kDirectory) {
      return absl::InvalidArgumentError(absl::StrCat("plot file ", plot_file, ": a folder is in the way"));
    }
  }
  if (plotting) {
    const std::string plot_dir = std::filesystem::path(plot_file).parent_path().string();
    QRES_RETURN_IF_ERROR(io::CheckWritableDirectory(
        config.plot_file.empty() ? "the plot's folder" : "--plot_file's folder", plot_dir.empty() ? "." : plot_dir));
  }
  QRES_RETURN_IF_ERROR(io::CheckWritableDirectory("--out_dir", config.out_dir));
  std::vector<std::string> lines;
  auto say = [&](const std::string& line) {
    std::cout << line << std::endl;
    lines.push_back(line);
  };
  std::string device_note;
  const c10::Device device = PickDevice(config.cuda, &device_note);
  if (!device_note.empty()) say(device_note);
  QRES_ASSIGN_OR_RETURN(data::Dataset train, data::LoadDataset(config.dataset, config.data_dir, data::Split::kTrain));
  QRES_ASSIGN_OR_RETURN(data::Dataset test, data::LoadDataset(config.dataset, config.data_dir, data::Split::kTest));
  const std::string net_name = config.net.empty() ? DefaultNet(train) : config.net;
  const models::ModelSpec spec = SpecFor(train, config.net_params);
  QRES_ASSIGN_OR_RETURN(std::shared_ptr<models::Net> net, models::CreateModel(net_name, spec));
  // A net of the same shapes trained on another data set would load without a word.
  QRES_ASSIGN_OR_RETURN(const auto trained_on, ReadTrainedOn(config.model_file));
  const std::string data_set = data::DataSetSetting(train);
  const std::string data = data::DataChecksums(train, test);
  std::string data_note;
  if (auto it = trained_on.find("dataset"); it != trained_on.end() && it->second != data_set) {
    return absl::InvalidArgumentError(absl::StrCat("model file ", config.model_file, " was trained on ", it->second,
                                                   ", not on ", data_set, ": give its data set (-d) and --data_dir"));
  }
  if (auto it = trained_on.find("data"); it != trained_on.end() && it->second != data) {
    data_note = absl::StrCat("Note                : the data differs from what the model was trained on (checksums ",
                             it->second, "; these: ", data, ")");
  }
  QRES_RETURN_IF_ERROR(LoadModelFile(config.model_file, *net));
  QRES_RETURN_IF_ERROR(CallTorch("moving the net to the device", [&] { net->to(device); }));
  net->eval();

  say("====================================================");
  say("qres test: evaluation of a trained model");
  say("====================================================");
  say(absl::StrCat("Net                 : ", net->Describe()));
  say(absl::StrCat("Model file          : ", config.model_file));
  say(absl::StrCat("Data set            : ", train.name, " (", train.source, ")"));
  if (!data_note.empty()) say(data_note);
  say(absl::StrCat("Data shape          : ", spec.channels, "x", spec.height, "x", spec.width, ", ", spec.classes,
                   " classes"));
  say(absl::StrCat("Device              : ", device.str(), ", batch size ", config.batch_size));

  data::BatchOptions options;
  options.batch_size = config.batch_size;
  options.shuffle = false;
  options.normalization = train.normalization;
  options.device = device;
  Evaluation evaluation;
  for (const auto& [mode, dataset] : {std::pair<const char*, const data::Dataset*>{"Trainning", &train},
                                      std::pair<const char*, const data::Dataset*>{"Testing", &test}}) {
    QRES_ASSIGN_OR_RETURN(data::Batches batches,
                          CallTorch("batching the data", [&] { return data::Batches(*dataset, options); }));
    QRES_ASSIGN_OR_RETURN(evaluation, EvaluateBatches(*net, batches, dataset->classes, /*train_mode=*/false));
    say(absl::StrCat("Test Mode : ", mode));
    say(absl::StrCat("Total samples       : ", evaluation.samples));
    say(absl::StrCat("Right Score         : ", evaluation.correct));
    say(absl::StrFormat("Accuracy            : %.6f", evaluation.accuracy()));
    say(absl::StrFormat("Total time          : %.3f s", evaluation.seconds));
    say(absl::StrFormat("Average time        : %.3g s per sample",
                        evaluation.seconds / std::max<int64_t>(evaluation.samples, 1)));
  }
  for (const std::string& line : DescribePerClass(evaluation, test.class_names)) say(line);

  if (!config.plot) {
    say("No plot: -ng 1");
  } else if (config.error_file.empty()) {
    say("No plot: no error trend file (-e error_<PROC>.pickle)");
  } else {
    QRES_ASSIGN_OR_RETURN(std::string bytes, io::ReadRegularFile(config.error_file));
    QRES_ASSIGN_OR_RETURN(std::vector<double> losses, io::UnpickleFloatList(bytes, config.error_file));
    if (losses.empty()) return absl::DataLossError(absl::StrCat(config.error_file, ": the error trend is empty"));
    const size_t points = std::min<size_t>(losses.size(), config.plot_points);
    losses.resize(points);
    std::vector<io::Panel> panels = {{"loss", losses}};
    // The run's metrics file sits beside the error file: error_<run>.pickle -> metrics_<run>.jsonl.
    if (const std::string metrics_file = MetricsFileBeside(config.error_file);
        !metrics_file.empty() && io::FileExists(metrics_file)) {
      QRES_ASSIGN_OR_RETURN(const std::string text, io::ReadRegularFile(metrics_file));
      QRES_ASSIGN_OR_RETURN(const std::vector<io::EpochMetrics> epochs, io::ParseMetrics(text, metrics_file));
      io::Panel accuracy{"test accuracy", {}}, lr{"lr", {}}, index{"QP index", {}};
      for (const io::EpochMetrics& epoch : epochs) {
        if (accuracy.y.size() == points) break;
        accuracy.y.push_back(epoch.test_accuracy);
        lr.y.push_back(epoch.lr);
        if (epoch.quant_index) index.y.push_back(*epoch.quant_index);
      }
      for (io::Panel* panel : {&accuracy, &lr, &index}) {
        if (!panel->y.empty()) panels.push_back(std::move(*panel));
      }
    }
    QRES_RETURN_IF_ERROR(io::WritePlotPng(plot_file, panels));
    std::vector<std::string> titles;
    for (const io::Panel& panel : panels) titles.push_back(panel.title);
    say(absl::StrCat("Plot                : ", plot_file, " (", points, " epochs: ", absl::StrJoin(titles, ", "), ")"));
  }
  std::string log;
  for (const std::string& line : lines) absl::StrAppend(&log, line, "\n");
  QRES_RETURN_IF_ERROR(io::CreateOutputDirectory(config.out_dir));
  return io::WriteFileAtomically(io::JoinPath(config.out_dir, "operation_test.txt"), log);
}

}  // namespace qres::train
