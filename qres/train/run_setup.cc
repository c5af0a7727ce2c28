#include "qres/train/run_setup.h"

#include "ATen/Context.h"

namespace qres::train {

c10::Device PickDevice(bool cuda, std::string* note, int gpu) {
  if (cuda && at::hasCUDA()) return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(gpu));
  if (cuda && note != nullptr) *note = "no CUDA GPU is available; running on the CPU";
  return c10::Device(c10::kCPU);
}

std::string DefaultNet(const data::Dataset& dataset) { return dataset.images.size(2) == 28 ? "CNN" : "LeNet"; }

models::ModelSpec SpecFor(const data::Dataset& dataset, const std::string& net_options) {
  models::ModelSpec spec;
  spec.channels = dataset.images.size(1);
  spec.height = dataset.images.size(2);
  spec.width = dataset.images.size(3);
  spec.classes = dataset.classes;
  spec.options = net_options;
  spec.options_source = kNetOptionsSource;
  return spec;
}

}  // namespace qres::train
