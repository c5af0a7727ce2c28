// The model file: the net's state_dict (parameters and buffers by name) as a torch.save-compatible
// pickle, so Python's torch.load reads it too.
#ifndef QRES_TRAIN_MODEL_FILE_H_
#define QRES_TRAIN_MODEL_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "qres/models/model.h"

namespace qres::train {

absl::Status SaveModelFile(const std::string& path, const models::Net& net);

// Loads `path` into `net`. Missing or corrupt files, and files whose names or shapes do not match
// the net (another net, dataset or depth), are errors that say what differs.
absl::Status LoadModelFile(const std::string& path, models::Net& net);

}  // namespace qres::train

#endif  // QRES_TRAIN_MODEL_FILE_H_
