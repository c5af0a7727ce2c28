// What one training run is: the options train's flags fill in (qres/tools/train.cc), and the
// run's name, which names its files.
#ifndef QRES_TRAIN_TRAIN_CONFIG_H_
#define QRES_TRAIN_TRAIN_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "qres/dist/environment.h"
#include "qres/train/precision.h"
#include "qres/train/step_graph.h"

namespace qres::train {

struct TrainConfig {
  std::string net;  // empty: CNN for 28x28 datasets, LeNet otherwise (the seed's choice)
  std::string algorithm = "Adam";
  std::string dataset = "FashionMNIST";
  std::string data_dir;  // empty: the dataset's conventional folder
  std::string out_dir = ".";
  int64_t epochs = 15;
  double lr = 0.001;
  int64_t batch_size = 0;  // 0: the dataset's (128 for CIFAR10, 100 otherwise)
  bool cuda = false;
  // The forward pass and loss under autocast (bf16, or fp16 on CUDA); weights and the optimizer
  // step stay fp32.
  Precision precision = Precision::kFp32;
  // Off by default until graphed training has run on a GPU (docs/BENCHMARKS.md says when it has).
  CudaGraphs cuda_graphs = CudaGraphs::kOff;
  std::optional<int64_t> qp;  // -qp: the bump schedule's initial index (0 when not given)
  std::string net_params;     // the net's options, "key=value,..." (ResNet: layers; LeNet: logit_relu)
  uint64_t seed = 1;
  std::string optim_params;
  std::string quant_params;
  std::string scheduler = "constant";  // the lr schedule (qres/sched); -sn in the follow-up
  std::string scheduler_params;        // its options, "key=value,..."
  bool schedule_per_batch = false;     // step it after every batch, not after every epoch
  // TensorBoard event files go to <tensorboard>/<run name>: "" is <out_dir>/tensorboard, "off" none.
  std::string tensorboard;
  int64_t tensorboard_every = 100;  // loss, lr and index every this many steps too; 0: per epoch only
  bool shuffle = true;              // the reference: false
  bool drop_last = false;           // the reference: true
  bool augment = false;             // random crop + flip
  bool mean_std = false;            // per-channel mean/std normalisation instead of the reference's
  bool train_mode_eval = false;     // the reference evaluates in train mode
  bool resume = false;              // continue from this run's checkpoint (it must exist)
  std::string resume_from;          // or from this checkpoint (another run's, e.g. with fewer epochs)
  bool overwrite = false;           // replace an older run's outputs of the same name (else an error)
  bool progress = false;            // a progress bar on stderr (for terminals)
  int64_t threads = 0;              // CPU threads for LibTorch; 0: LibTorch's default
  // GPU: cuDNN's deterministic algorithms only, so that two runs give the same bits (CPU runs do
  // by themselves); slower.
  bool deterministic = false;
  // A data-parallel run's rank (torchrun's environment, qres/dist): each rank trains on its slice
  // of every global batch of batch_size, gradients are summed (Gloo on the CPU, NCCL or Gloo on
  // GPUs: cuda:LOCAL_RANK), rank 0 alone prints and writes the outputs. Absent: one process.
  std::optional<dist::Environment> ranks;
  int64_t dist_timeout_s = 300;       // every collective, and the ranks' rendezvous
  std::string dist_backend = "auto";  // auto, gloo or nccl (dist::ChooseTransport)
  // The gradients' allreduce runs in buckets of this many MiB while backward runs (c10d's
  // Reducer); 0: one allreduce of all gradients after backward.
  int64_t dist_bucket_mb = 25;
  bool dist_all_ranks_print = false;  // every rank prints its lines, "[rank r] ..." (else rank 0 only)

  // The one place a run's settings are checked on their own (Ceres's Solver::Options::IsValid):
  // ranges, and settings that contradict each other, each a one-line error naming the flag. The
  // train tool calls it after reading its flags, and a run (TrainingRun::SetUp) before anything
  // else; what depends on the machine, the data or the files is checked where they are met.
  [[nodiscard]] absl::Status Validate() const;
};

// The seed's run name, e.g. "ResNetQSGD20".
inline std::string RunName(const TrainConfig& config) {
  return absl::StrCat(config.net, config.algorithm, config.epochs);
}

}  // namespace qres::train

#endif  // QRES_TRAIN_TRAIN_CONFIG_H_
