// A run's checkpoint: where it is (the position), the state of its net, optimizer, quantizer and
// lr schedule, its log so far, and the settings a resumed run must share with it.
//
//   QRES_RETURN_IF_ERROR(SaveCheckpoint(path, net, optimizer, schedule, position, log, settings));
//   QRES_RETURN_IF_ERROR(LoadCheckpoint(path, net, optimizer, schedule, position, log, settings, world_size));
#ifndef QRES_TRAIN_CHECKPOINT_H_
#define QRES_TRAIN_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qres/data/dataset.h"
#include "qres/io/settings_text.h"
#include "qres/models/model.h"
#include "qres/sched/scheduler.h"
#include "qres/train/train_config.h"
#include "torch/optim/optimizer.h"

namespace qres::train {

// Where a run is (not the progress bar): saved in the checkpoint so that a resumed run continues
// exactly.
struct Position {
  int64_t epoch = 0;      // the epoch in position
  int64_t batch = 0;      // the next batch of that epoch
  double loss_sum = 0.0;  // over the epoch's finished batches
  int64_t correct = 0;    // training predictions of the epoch so far
  int64_t seen = 0;
  double epoch_seconds = 0.0;     // time spent in this epoch before an interruption
  double train_seconds = 0.0;     // all finished epochs
  std::vector<double> losses;     // per finished epoch: the error trend
  std::string metrics;            // the jsonl lines so far
  double loss_scale = 0.0;        // fp16: the loss scaler's scale (0: none)
  int64_t loss_scale_growth = 0;  // and its good steps since the scale last changed
};

// What must not change between a run and its resumption, by flag name. The checkpoint stores it
// as "key=value" lines (values may hold ',' and '=', never a newline).
using Settings = io::SettingsMap;

// The run's settings; "data" holds the training and test sets' checksums (data::Checksum).
Settings RunSettings(const TrainConfig& config, const data::Dataset& train, const data::Dataset& test);

// The checkpoint's bytes (`path` names it in errors), for a caller that writes it with other files.
absl::StatusOr<std::string> CheckpointBytes(const std::string& path, models::Net& net,
                                            torch::optim::Optimizer& optimizer, const sched::LrSchedule& schedule,
                                            const Position& position, const std::string& log, const Settings& settings);

// Writes the checkpoint atomically.
absl::Status SaveCheckpoint(const std::string& path, models::Net& net, torch::optim::Optimizer& optimizer,
                            const sched::LrSchedule& schedule, const Position& position, const std::string& log,
                            const Settings& settings);

// Loads the checkpoint after checking every record's CRC and that it was made with `settings` (a
// one-line error naming the first setting that differs), but for the world size, which it returns
// in `world_size` ("1" for a checkpoint made by one process).
absl::Status LoadCheckpoint(const std::string& path, models::Net& net, torch::optim::Optimizer& optimizer,
                            sched::LrSchedule& schedule, Position& position, std::string& log, const Settings& settings,
                            std::string& world_size);

}  // namespace qres::train

#endif  // QRES_TRAIN_CHECKPOINT_H_
