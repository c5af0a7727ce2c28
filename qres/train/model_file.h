// The model file: the net's state_dict (parameters and buffers by name) as a torch.save-compatible
// pickle, so Python's torch.load reads it too, with what it was trained on in a record beside it.
#ifndef QRES_TRAIN_MODEL_FILE_H_
#define QRES_TRAIN_MODEL_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "qres/io/settings_text.h"
#include "qres/models/model.h"

namespace qres::train {

// `trained_on` (the run's settings: data set, data checksums, net, ...) goes in a record of its own
// beside the pickle, which torch.load never reads.
absl::Status SaveModelFile(const std::string& path, const models::Net& net, const io::SettingsMap& trained_on);

// The settings a model file says it was trained with; empty for an older train's file.
absl::StatusOr<io::SettingsMap> ReadTrainedOn(const std::string& path);

// Loads `path` into `net`. Missing or corrupt files, and files whose names or shapes do not match
// the net (another net, dataset or depth), are errors that say what differs.
absl::Status LoadModelFile(const std::string& path, models::Net& net);

}  // namespace qres::train

#endif  // QRES_TRAIN_MODEL_FILE_H_
