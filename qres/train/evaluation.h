// A net's accuracy over a dataset split, with per-class counts and the confusion matrix (the
// trainer's per-epoch evaluation and the test tool's, evaluator.h).
#ifndef QRES_TRAIN_EVALUATION_H_
#define QRES_TRAIN_EVALUATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "ATen/core/Tensor.h"
#include "absl/status/statusor.h"
#include "qres/data/batches.h"
#include "qres/models/model.h"

namespace qres::train {

struct Evaluation {
  int64_t samples = 0;
  int64_t correct = 0;
  at::Tensor confusion;  // int64 [classes, classes], CPU: rows = true class, columns = predicted
  double seconds = 0;
  double accuracy() const { return samples > 0 ? static_cast<double>(correct) / samples : 0.0; }
};

// Runs every batch of `batches` (in file order) through `net` without gradients. In eval mode
// unless `train_mode` (the reference's quirk: batch statistics, and the running statistics are
// updated by the evaluation batches). LibTorch errors (a GPU out of memory) are a Status.
// With shards > 1 only batches shard, shard + shards, ... run: one rank's part of a sharded
// evaluation, whose confusion matrices add up to the whole split's.
absl::StatusOr<Evaluation> EvaluateBatches(models::Net& net, data::Batches& batches, int64_t classes, bool train_mode,
                                           int64_t shard = 0, int64_t shards = 1);

// Lines of per-class accuracy and the confusion matrix, for the evaluator's report.
std::vector<std::string> DescribePerClass(const Evaluation& evaluation, const std::vector<std::string>& class_names);

}  // namespace qres::train

#endif  // QRES_TRAIN_EVALUATION_H_
