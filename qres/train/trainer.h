// Training a registered net on a registered dataset with a registered optimizer: the seed's
// torch_nn02.py workflow (algorithm.md §6), with checkpoints, resume and machine-readable metrics.
//
//   TrainConfig config;
//   config.net = "CNN"; config.algorithm = "QtAdamW"; config.epochs = 5;
//   absl::Status status = Train(config, [&] { return stop_requested.load(); });
//
// Writes into config.out_dir (PROC = <Net><Algorithm><Epochs>, the seed's names):
//   torch_nn02<PROC>.pt     the model's state_dict (torch.load reads it)
//   operation_<PROC>.txt    everything printed
//   error_<PROC>.pickle     the per-epoch mean training loss, a pickled list of floats
//   metrics_<PROC>.jsonl    one JSON object per epoch
//   checkpoint_<PROC>.pt    model, optimizer, quantizer and position, for --resume
//   tensorboard/<PROC>/     TensorBoard event files (config.tensorboard; run_files.h's EventDir)
// Every file is written atomically. A second process on the same run and folder is refused, and so
// is a new run over an older one's outputs unless config.overwrite (they are removed first).
#ifndef QRES_TRAIN_TRAINER_H_
#define QRES_TRAIN_TRAINER_H_

#include <functional>

#include "absl/status/status.h"
#include "qres/train/train_config.h"

namespace qres::train {

// Trains and writes the outputs. `should_stop` (may be empty) is asked before every batch: when it
// returns true the run saves a resumable checkpoint and returns a Cancelled status.
absl::Status Train(const TrainConfig& config, const std::function<bool()>& should_stop = {});

}  // namespace qres::train

#endif  // QRES_TRAIN_TRAINER_H_
