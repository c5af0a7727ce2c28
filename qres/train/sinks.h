// What a run reports while it trains, beside its log and metrics file (which the checkpoint
// keeps): sinks that join the run without touching its loop. The run calls every sink after each
// step and after each epoch's evaluation.
//
//   sinks.push_back(std::make_unique<ProgressBar>());   // on a terminal
//   if (auto tensorboard = TensorBoardSink::Open(dir, /*clear=*/true, 100)) sinks.push_back(std::move(tensorboard));
#ifndef QRES_TRAIN_SINKS_H_
#define QRES_TRAIN_SINKS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qres/io/metrics.h"
#include "qres/io/tensorboard.h"

namespace qres::train {

struct StepReport {
  int64_t step = 0;                // steps taken so far in the run
  int64_t epoch = 0, epochs = 0;   // from 1
  int64_t batch = 0, batches = 0;  // the batch just trained, from 1
  double lr = 0;
  double images_per_second = 0, eta_seconds = 0;  // of this epoch so far
  // The step's loss, the epoch's mean loss so far and the quantization index (none for an
  // unquantized algorithm): reading them waits for the device, so a sink asks only on the steps it
  // shows.
  std::function<absl::StatusOr<double>()> loss, epoch_loss;
  std::function<std::optional<double>()> quant_index;
};

class RunSink {
 public:
  virtual ~RunSink() = default;
  // An error (reading the loss failed) stops the run.
  virtual absl::Status OnStep(const StepReport& step) = 0;
  virtual void OnEpoch(const io::EpochMetrics& epoch) = 0;
  // The epoch's batches are done or interrupted, before the run prints its lines.
  virtual void OnBatchesDone() {}
};

// A one-line bar on stderr, redrawn every 10 batches: epoch, batches, loss, images/s, ETA.
class ProgressBar : public RunSink {
 public:
  absl::Status OnStep(const StepReport& step) override;
  void OnEpoch(const io::EpochMetrics&) override {}
  void OnBatchesDone() override;

 private:
  // Redraws (each reads the loss, a wait for the device) at most every 250 ms, and at an epoch's
  // last batch: a GPU's millisecond steps are not held up.
  std::chrono::steady_clock::time_point last_drawn_;
};

// TensorBoard event files in `dir`: the epoch's figures after each epoch, and every `every` steps
// (0: never) the step's loss, lr and quantization index. A folder or file that cannot be written
// is a one-line warning and the run goes on without them.
class TensorBoardSink : public RunSink {
 public:
  // nullptr (after the warning) when `dir` cannot be written. `clear`: first remove the event
  // files an earlier run of this name left in `dir`.
  static std::unique_ptr<TensorBoardSink> Open(const std::string& dir, bool clear, int64_t every);
  absl::Status OnStep(const StepReport& step) override;
  void OnEpoch(const io::EpochMetrics& epoch) override;
  const std::string& path() const { return path_; }

 private:
  TensorBoardSink(std::unique_ptr<io::EventWriter> writer, int64_t every);
  void Write(int64_t step, const std::vector<std::pair<std::string, double>>& values);

  std::unique_ptr<io::EventWriter> writer_;  // null after a failed write
  int64_t every_;
  std::string path_;
};

}  // namespace qres::train

#endif  // QRES_TRAIN_SINKS_H_
