// What train and test both decide from a dataset and the command line: the device, the default
// net, and the net's shape.
#ifndef QRES_TRAIN_RUN_SETUP_H_
#define QRES_TRAIN_RUN_SETUP_H_

#include <cstdint>
#include <string>

#include "c10/core/Device.h"
#include "qres/data/dataset.h"
#include "qres/models/model.h"

namespace qres::train {

// cuda:`gpu` when `cuda` is asked for and a GPU is there; otherwise the CPU, with `note` saying why
// when the GPU was asked for (the seed's -g 1 on a machine without one). A `gpu` this machine does
// not have is cuda:`gpu` still (the caller's first use of it says so).
c10::Device PickDevice(bool cuda, std::string* note, int gpu = 0);

// Where a net's options come from on the command line, for its errors.
inline constexpr char kNetOptionsSource[] = "--net_params, -rl, --logit_relu";

// The seed's choice when no net is named: CNN for 28x28 images, LeNet otherwise.
std::string DefaultNet(const data::Dataset& dataset);

// The net's input shape and class count from the dataset, and its options (NetOptionsFromFlags).
models::ModelSpec SpecFor(const data::Dataset& dataset, const std::string& net_options);

}  // namespace qres::train

#endif  // QRES_TRAIN_RUN_SETUP_H_
