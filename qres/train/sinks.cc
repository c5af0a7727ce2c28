#include "qres/train/sinks.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "qres/base/duration.h"
#include "qres/base/status_macros.h"
#include "qres/io/files.h"

namespace qres::train {

absl::Status ProgressBar::OnStep(const StepReport& step) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_drawn_ < std::chrono::milliseconds(250) && step.batch != step.batches) return absl::OkStatus();
  last_drawn_ = now;
  QRES_ASSIGN_OR_RETURN(const double loss, step.epoch_loss());
  const int width = 24;
  const int filled = static_cast<int>(width * step.batch / std::max<int64_t>(step.batches, 1));
  std::fprintf(stderr, "\r  epoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s  ",
               static_cast<long long>(step.epoch), static_cast<long long>(step.epochs),
               std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
               static_cast<long long>(step.batch), static_cast<long long>(step.batches), loss, step.images_per_second,
               FormatDuration(step.eta_seconds).c_str());
  std::fflush(stderr);
  return absl::OkStatus();
}

void ProgressBar::OnBatchesDone() {
  std::fprintf(stderr, "\r%*s\r", 100, "");
  std::fflush(stderr);
}

std::unique_ptr<TensorBoardSink> TensorBoardSink::Open(const std::string& dir, bool clear, int64_t every) {
  if (clear) {
    if (absl::StatusOr<std::vector<io::DirectoryEntry>> entries = io::ListDirectory(dir); entries.ok()) {
      for (const io::DirectoryEntry& entry : *entries) {
        if (absl::StartsWith(entry.name, "events.out.tfevents.")) std::remove(entry.path.c_str());
      }
    }
  }
  absl::StatusOr<std::unique_ptr<io::EventWriter>> writer = io::EventWriter::Open(dir);
  if (!writer.ok()) {
    std::cerr << "train: warning: no TensorBoard files: " << writer.status().message() << "\n";
    return nullptr;
  }
  return std::unique_ptr<TensorBoardSink>(new TensorBoardSink(*std::move(writer), every));
}

TensorBoardSink::TensorBoardSink(std::unique_ptr<io::EventWriter> writer, int64_t every)
    : writer_(std::move(writer)), every_(every), path_(writer_->path()) {}

absl::Status TensorBoardSink::OnStep(const StepReport& step) {
  if (writer_ == nullptr || every_ <= 0 || step.step % every_ != 0) return absl::OkStatus();
  QRES_ASSIGN_OR_RETURN(const double loss, step.loss());
  std::vector<std::pair<std::string, double>> values = {{"step/loss", loss}, {"step/lr", step.lr}};
  if (const std::optional<double> index = step.quant_index(); index.has_value()) {
    values.emplace_back("step/quant_index", *index);
  }
  Write(step.step, values);
  return absl::OkStatus();
}

void TensorBoardSink::OnEpoch(const io::EpochMetrics& epoch) {
  std::vector<std::pair<std::string, double>> values = {{"epoch/loss", epoch.loss},
                                                        {"epoch/train_accuracy", epoch.train_accuracy},
                                                        {"epoch/test_accuracy", epoch.test_accuracy},
                                                        {"epoch/lr", epoch.lr},
                                                        {"epoch/images_per_second", epoch.images_per_second}};
  if (epoch.quant_index.has_value()) values.emplace_back("epoch/quant_index", *epoch.quant_index);
  Write(epoch.epoch, values);
}

void TensorBoardSink::Write(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  if (writer_ == nullptr) return;
  if (absl::Status written = writer_->Scalars(step, values); !written.ok()) {
    std::cerr << "train: warning: TensorBoard files stop here: " << written.message() << "\n";
    writer_.reset();
  }
}

}  // namespace qres::train
