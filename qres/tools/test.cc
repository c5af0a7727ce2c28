// test: evaluates a model file that train wrote, as the seed's torch_testNN.py:
//   bazel run -c opt //qres/tools:test -- -d FashionMNIST -n CNN -m torch_nn02CNNQtAdamW5.pt
//       -e error_CNNQtAdamW5.pickle   (one command line)

#include "absl/strings/str_cat.h"
#include "gflags/gflags.h"
#include "qres/base/status_macros.h"
#include "qres/tools/cli.h"
#include "qres/train/evaluator.h"

DEFINE_string(dataset, "FashionMNIST", "dataset the model was trained on (--list). Seed: -d");
DEFINE_string(data_dir, "", "folder with the dataset's files; empty: the dataset's usual folder");
DEFINE_string(net, "", "net of the model file; empty: CNN on 28x28 data, LeNet otherwise. Seed: -n");
DEFINE_string(model_file, "", "model file written by train (torch_nn02<Net><Algo><E>.pt). Seed: -m");
DEFINE_string(error_file, "", "error trend file written by train (error_<Net><Algo><E>.pickle). Seed: -e");
DEFINE_string(plot_file, "", "where the plot goes; empty: the error file's name with .png");
DEFINE_string(out_dir, ".", "folder for operation_test.txt (made if missing)");
DEFINE_string(net_params, "", "the net's options the model was trained with (train's --net_params)");
DEFINE_int32(resnet_layers, 5, "ResNet: same as --net_params=layers=n (depth 6n+2). Seed: -rl");
DEFINE_bool(logit_relu, false, "LeNet trained with --logit_relu (--net_params=logit_relu=true)");
DEFINE_int32(batch_size, 100, "evaluation batch size (accuracy does not depend on it in eval mode)");
DEFINE_string(device, "cpu", "cpu or cuda (falls back to the CPU without a GPU). Seed: -g 1");
DEFINE_bool(list, false, "list the registered nets, datasets and algorithms, then exit");
// The seed's spellings.
DEFINE_string(d, "", "same as --dataset");
DEFINE_string(n, "", "same as --net");
DEFINE_string(m, "", "same as --model_file");
DEFINE_string(e, "", "same as --error_file");
DEFINE_int32(ng, 0, "1: no plot");
DEFINE_int32(p, 20, "plot the first min(epochs, p) epochs");
DEFINE_int32(rl, 5, "same as --resnet_layers");
DEFINE_int32(g, 0, "1: use the GPU (same as --device=cuda)");

namespace qres::tools {
namespace {

absl::StatusOr<train::EvaluateConfig> ConfigFromFlags() {
  train::EvaluateConfig config;
  QRES_ASSIGN_OR_RETURN(config.dataset, MergedFlag("dataset", "d"));
  QRES_ASSIGN_OR_RETURN(config.net, MergedFlag("net", "n"));
  QRES_ASSIGN_OR_RETURN(config.model_file, MergedFlag("model_file", "m"));
  QRES_ASSIGN_OR_RETURN(config.error_file, MergedFlag("error_file", "e"));
  QRES_ASSIGN_OR_RETURN(config.net_params, NetOptionsFromFlags());
  if (FLAGS_ng != 0 && FLAGS_ng != 1) return absl::InvalidArgumentError(absl::StrCat("-ng ", FLAGS_ng, ": use 0 or 1"));
  QRES_ASSIGN_OR_RETURN(config.cuda, WantsCuda(FLAGS_device, FLAGS_g));
  if (FLAGS_batch_size <= 0)
    return absl::InvalidArgumentError(absl::StrCat("--batch_size=", FLAGS_batch_size, " must be > 0"));
  config.plot = FLAGS_ng == 0;
  config.plot_points = FLAGS_p;
  config.plot_file = FLAGS_plot_file;
  config.data_dir = FLAGS_data_dir;
  config.out_dir = FLAGS_out_dir;
  config.batch_size = FLAGS_batch_size;
  return config;
}

int Main(int argc, char** argv) {
  return RunTool("test", argc, argv,
                 "test: evaluates a model file written by train, and plots its error trend.\n"
                 "Usage: bazel run -c opt //qres/tools:test -- [flags]\n"
                 "  e.g. -d FashionMNIST -n CNN -m torch_nn02CNNQtAdamW5.pt -e error_CNNQtAdamW5.pickle",
                 "/test.cc", FLAGS_list, []() -> absl::Status {
                   QRES_ASSIGN_OR_RETURN(train::EvaluateConfig config, ConfigFromFlags());
                   return train::EvaluateModel(config);
                 });
}

}  // namespace
}  // namespace qres::tools

int main(int argc, char** argv) { return qres::tools::Main(argc, argv); }
