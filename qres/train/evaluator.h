// Evaluating a saved model, the seed's torch_testNN.py workflow: accuracy on the training and test
// splits in eval mode, per-class accuracy and the confusion matrix, and a plot of the error trend
// (plus test accuracy and quantization index when the run's metrics file is beside it).
#ifndef QRES_TRAIN_EVALUATOR_H_
#define QRES_TRAIN_EVALUATOR_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace qres::train {

struct EvaluateConfig {
  std::string dataset = "FashionMNIST";
  std::string data_dir;
  std::string net;            // empty: CNN for 28x28 datasets, LeNet otherwise
  std::string model_file;     // torch_nn02<PROC>.pt, required
  std::string error_file;     // error_<PROC>.pickle; empty: no plot
  bool plot = true;           // the seed's -ng 0
  int64_t plot_points = 20;   // plot the first min(epochs, plot_points) epochs
  std::string plot_file;      // empty: the error file's name with .png
  std::string out_dir = ".";  // operation_test.txt
  std::string net_params;     // the net's options (NetOptionsFromFlags)
  int64_t batch_size = 100;
  bool cuda = false;
};

absl::Status EvaluateModel(const EvaluateConfig& config);

}  // namespace qres::train

#endif  // QRES_TRAIN_EVALUATOR_H_
