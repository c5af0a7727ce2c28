// train: trains a net on a dataset with an optimizer, all chosen by name (--list shows them).
// The seed's torch_nn02.py command lines work as they are, e.g.
//   bazel run -c opt //qres/tools:train -- -d CIFAR10 -e 20 -n ResNet -g 1 -qp 2 -l 0.25 -m QSGD
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gflags/gflags.h"
#include "qres/base/status_macros.h"
#include "qres/base/train_flags.h"
#include "qres/dist/environment.h"
#include "qres/tools/cli.h"
#include "qres/train/trainer.h"

DEFINE_string(net, "", "net to train (--list); empty: CNN on 28x28 data, LeNet otherwise. Seed: -n");
DEFINE_string(algo, "Adam", "learning algorithm (--list), e.g. QtAdamW, QSGD, AdamW. Seed: -m");
DEFINE_string(dataset, "FashionMNIST", "dataset (--list). Seed: -d");
DEFINE_string(data_dir, "", "folder with the dataset's files; empty: the dataset's usual folder");
DEFINE_int32(epochs, 15, "training epochs. Seed: -e");
DEFINE_double(lr, 0.001, "learning rate (the seed recommends 2^-8 ... 2^-5). Seed: -l");
DEFINE_int32(batch_size, 0, "minibatch size; 0: 128 for CIFAR10, 100 otherwise. Seed: -b");
DEFINE_string(device, "cpu", "cpu or cuda (falls back to the CPU without a GPU). Seed: -g 1");
DEFINE_int32(qp, 0,
             "initial quantization index n: the update's grid starts at 2^-n (the bump schedule of QSGD, QtAdam, "
             "QtAdamW; an error elsewhere)");
DEFINE_string(net_params, "",
              "the net's options k=v,...: ResNet layers=n (depth 6n+2; 5: ResNet-32), LeNet logit_relu=true; another "
              "net's key is an error");
DEFINE_int32(resnet_layers, 5, "ResNet: same as --net_params=layers=n (5: ResNet-32). Seed: -rl");
DEFINE_uint64(seed, 1, "seed for initialisation, shuffling, augmentation (CPU runs repeat bit for bit)");
DEFINE_string(out_dir, ".", "folder for the model, log, error trend, metrics and checkpoint (made if missing)");
DEFINE_string(
    optim_params, "",
    "optimizer options k=v,...: momentum, dampening, nesterov, weight_decay, betas=b1:b2, eps, form=torch|reference");
DEFINE_string(precision, "fp32",
              "fp32, bf16 or fp16: the forward pass and loss under autocast, weights and optimizer step in fp32; "
              "bf16 on the CPU and GPUs (channels-last convolutions on the CPU; without AVX512-BF16 or AMX, "
              "likely slower than fp32), fp16 on GPUs only");
DEFINE_string(cuda_graphs, "off",
              "replay each full batch's step (forward, backward and the fused CUDA optimizer step) from one "
              "CUDA graph: auto (where it applies: one process on a GPU), on (an error elsewhere), off. Off by "
              "default until graphed training has run on a GPU");
DEFINE_bool(deterministic, false,
            "GPU: cuDNN's deterministic algorithms only, so that two runs give the same bits as CPU runs do "
            "(slower; the CPU needs nothing)");
DEFINE_string(
    quant_params, "",
    "quantizer options k=v,...: schedule=bump|log|none, rounding=half_up|floor|nearest_even|stochastic, seed, "
    "zero_test=sum|all_zero, scope=global|per_tensor, index_limit, check_first_step, bump_on_zero_update (the "
    "reference's: an update zero before rounding raises the index to the limit), base, eta, kappa, warmup, offset");
DEFINE_string(scheduler, "constant",
              "learning-rate schedule (--list): the follow-up's constant, LambdaLR, exp, cyclicLR, CAWR, CCAWR; "
              "torch's StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, OneCycleLR. Seed (2023): -sn");
DEFINE_string(scheduler_params, "",
              "the schedule's options k=v,... (e.g. StepLR step_size=30,gamma=0.1); every schedule: warmup=N "
              "steps of linear warm-up from warmup_start=1/3 of the lr. CCAWR fixes the reference's lr-0 first "
              "epoch of each cycle; reference=true keeps it");
DEFINE_string(scheduler_interval, "epoch",
              "step the schedule after every epoch (the follow-up's rule) or every batch; its step counts "
              "(step_size, T_0, ...) count these");
DEFINE_string(tensorboard, "",
              "folder for TensorBoard event files, in a subfolder named after the run (and, in a folder that "
              "runs of several --out_dir share, after its out_dir: <run>_<8 hex digits>); empty: "
              "<out_dir>/tensorboard; off: none. View with: tensorboard --logdir <folder>");
DEFINE_int32(tensorboard_every, 100, "also log the loss, lr and QP index every this many steps; 0: per epoch only");
DEFINE_int32(dist_timeout, 300,
             "seconds the ranks of a torchrun-launched run wait for each other (rendezvous and "
             "every collective) before they stop with an error");
DEFINE_string(dist_backend, "auto",
              "the ranks' collectives on GPUs (-g 1; rank r trains on GPU LOCAL_RANK): nccl, or gloo; auto: nccl "
              "in a --config=cuda build. CPU tensors always go through gloo");
DEFINE_bool(dist_all_ranks_print, false,
            "every rank prints its lines, prefixed '[rank r] ' (else rank 0 alone "
            "prints; rank 0 alone writes files either way)");
DEFINE_int32(dist_bucket_mb, 25,
             "the ranks sum gradients in buckets of this many MiB while backward runs (c10d's "
             "Reducer); 0: in one allreduce after backward");
DEFINE_bool(shuffle, true, "shuffle every epoch (the reference does not: --noshuffle)");
DEFINE_bool(drop_last, false, "drop the last partial batch (the reference does)");
DEFINE_bool(augment, false, "random crop with 4-pixel padding and horizontal flip");
DEFINE_string(normalize, "reference",
              "reference ([0,1] MNIST family, [-1,1] CIFAR) or meanstd (per-channel statistics)");
DEFINE_string(eval_bn, "eval", "evaluate in eval mode, or train mode as the reference does");
DEFINE_bool(logit_relu, false, "LeNet: the reference's ReLU on the logits (--net_params=logit_relu=true)");
DEFINE_bool(resume, false, "continue from the run's checkpoint in --out_dir (an error when it has none)");
DEFINE_string(resume_from, "",
              "continue from this checkpoint, e.g. a finished run's, for more --epochs: the outputs take the new "
              "run's name; its settings must match as for --resume. Schedules that read --epochs (the log "
              "quantization's warm-up, cosine lr) follow the new count");
DEFINE_bool(overwrite, false, "replace the outputs of an earlier run of the same name in --out_dir (else an error)");
DEFINE_string(progress, "auto", "progress bar on stderr: auto (when it is a terminal), on, off");
DEFINE_int32(threads, 0, "CPU threads, at most the machine's; 0: LibTorch's default");
DEFINE_bool(list, false, "list the registered nets, datasets and algorithms, then exit");
// The seed's spellings.
DEFINE_string(n, "", "same as --net");
DEFINE_string(m, "", "same as --algo");
DEFINE_string(d, "", "same as --dataset");
DEFINE_int32(e, 15, "same as --epochs");
DEFINE_double(l, 0.001, "same as --lr");
DEFINE_int32(b, 0, "same as --batch_size");
DEFINE_int32(g, 0, "1: use the GPU (same as --device=cuda)");
DEFINE_int32(rl, 5, "same as --resnet_layers");
DEFINE_string(sn, "", "same as --scheduler (the 2023 seed's)");
DEFINE_string(f, "", "accepted for the seed's command lines; the model file is named torch_nn02<Net><Algo><E>.pt");
DEFINE_int32(a, 0, "accepted for the seed's command lines (autoproc); no effect");

namespace qres::tools {
namespace {

std::atomic<bool> stop_requested{false};
std::atomic<int64_t> first_signal_ns{0};

// The first SIGINT/SIGTERM stops at the next batch with a checkpoint; another one a second or more
// later quits at once. Copies of the first that arrive together are one request: under torchrun a
// Ctrl-C reaches each rank from the terminal and again from torchrun (and `timeout` passes a
// signal both to its command and to the command's process group).
void OnSignal(int) {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);  // async-signal-safe
  const int64_t ns = static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
  int64_t first = 0;
  if (!first_signal_ns.compare_exchange_strong(first, ns)) {
    if (ns - first >= 1000000000) std::_Exit(130);
    return;
  }
  stop_requested = true;
  const char message[] = "\nstopping at the next batch and saving a checkpoint (again to quit now)\n";
  [[maybe_unused]] ssize_t ignored = write(2, message, sizeof(message) - 1);
}

absl::StatusOr<train::TrainConfig> ConfigFromFlags() {
  train::TrainConfig config;
  QRES_ASSIGN_OR_RETURN(config.net, MergedFlag("net", train_flags::ShortName("net")));
  QRES_ASSIGN_OR_RETURN(config.algorithm, MergedFlag("algo", train_flags::ShortName("algo")));
  QRES_ASSIGN_OR_RETURN(config.dataset, MergedFlag("dataset", train_flags::ShortName("dataset")));
  QRES_ASSIGN_OR_RETURN(config.epochs, MergedIntFlag("epochs", train_flags::ShortName("epochs")));
  QRES_ASSIGN_OR_RETURN(config.lr, MergedDoubleFlag("lr", train_flags::ShortName("lr")));
  QRES_ASSIGN_OR_RETURN(config.batch_size, MergedIntFlag("batch_size", train_flags::ShortName("batch_size")));
  QRES_ASSIGN_OR_RETURN(config.net_params, NetOptionsFromFlags());

  QRES_ASSIGN_OR_RETURN(config.cuda, WantsCuda(FLAGS_device, FLAGS_g));
  QRES_ASSIGN_OR_RETURN(config.precision, train::ParsePrecision(FLAGS_precision, config.cuda));
  QRES_ASSIGN_OR_RETURN(config.cuda_graphs, train::ParseCudaGraphs(FLAGS_cuda_graphs));
  config.data_dir = FLAGS_data_dir;
  config.out_dir = FLAGS_out_dir;
  if (!gflags::GetCommandLineFlagInfoOrDie("qp").is_default) {
    for (absl::string_view option : absl::StrSplit(FLAGS_quant_params, ',')) {
      if (absl::StripAsciiWhitespace(option.substr(0, option.find('='))) == "qp") {
        return absl::InvalidArgumentError(absl::StrCat("-qp ", FLAGS_qp, " and --quant_params=", FLAGS_quant_params,
                                                       " both set the initial index: give one"));
      }
    }
    config.qp = FLAGS_qp;
  }
  config.seed = FLAGS_seed;
  config.optim_params = FLAGS_optim_params;
  config.quant_params = FLAGS_quant_params;
  QRES_ASSIGN_OR_RETURN(config.scheduler, MergedFlag("scheduler", train_flags::ShortName("scheduler")));
  config.scheduler_params = FLAGS_scheduler_params;
  if (FLAGS_scheduler_interval != "epoch" && FLAGS_scheduler_interval != "batch") {
    return absl::InvalidArgumentError(
        absl::StrCat("--scheduler_interval=", FLAGS_scheduler_interval, ": use epoch or batch"));
  }
  config.schedule_per_batch = FLAGS_scheduler_interval == "batch";
  // "off" in any case, as every other name train reads (--tensorboard=OFF made a folder OFF).
  config.tensorboard = absl::AsciiStrToLower(FLAGS_tensorboard) == "off" ? "off" : FLAGS_tensorboard;
  config.tensorboard_every = FLAGS_tensorboard_every;
  config.shuffle = FLAGS_shuffle;
  config.drop_last = FLAGS_drop_last;
  config.augment = FLAGS_augment;
  if (FLAGS_normalize != "reference" && FLAGS_normalize != "meanstd") {
    return absl::InvalidArgumentError(absl::StrCat("--normalize=", FLAGS_normalize, ": use reference or meanstd"));
  }
  config.mean_std = FLAGS_normalize == "meanstd";
  if (FLAGS_eval_bn != "eval" && FLAGS_eval_bn != "train") {
    return absl::InvalidArgumentError(absl::StrCat("--eval_bn=", FLAGS_eval_bn, ": use eval or train"));
  }
  config.train_mode_eval = FLAGS_eval_bn == "train";
  config.resume = FLAGS_resume;
  config.resume_from = FLAGS_resume_from;
  config.overwrite = FLAGS_overwrite;
  if (FLAGS_progress != "auto" && FLAGS_progress != "on" && FLAGS_progress != "off") {
    return absl::InvalidArgumentError(absl::StrCat("--progress=", FLAGS_progress, ": use auto, on or off"));
  }
  config.progress = FLAGS_progress == "on" || (FLAGS_progress == "auto" && isatty(2));
  config.threads = FLAGS_threads;
  config.deterministic = FLAGS_deterministic;
  QRES_ASSIGN_OR_RETURN(config.ranks, dist::EnvironmentFromVariables());
  config.dist_backend = FLAGS_dist_backend;
  config.dist_bucket_mb = FLAGS_dist_bucket_mb;
  config.dist_all_ranks_print = FLAGS_dist_all_ranks_print;
  config.dist_timeout_s = FLAGS_dist_timeout;
  QRES_RETURN_IF_ERROR(config.Validate());
  return config;
}

int Main(int argc, char** argv) {
  return RunTool("train", argc, argv,
                 "train: trains a net with a (quantized) learning algorithm.\n"
                 "Usage: bazel run -c opt //qres/tools:train -- [flags]\n"
                 "  e.g. --net=CNN --dataset=FashionMNIST --algo=QtAdamW --epochs=5\n"
                 "       -d CIFAR10 -e 20 -n ResNet -g 1 -qp 2 -l 0.25 -m QSGD   (the seed's spelling)\n"
                 "       --algo=QtAdamW --scheduler=CosineAnnealingLR --scheduler_params=warmup=2\n"
                 "Data-parallel (--batch_size is the global batch, split over the ranks; rank r of a machine\n"
                 "trains on its GPU LOCAL_RANK with -g 1):\n"
                 "  torchrun --nproc_per_node=2 --no-python bazel-bin/qres/tools/train --algo=QtAdamW\n"
                 "  torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=8 \\\n"
                 "      --no-python bazel-bin/qres/tools/train -g 1 --algo=QtAdamW   (then --node_rank=1 on the other)",
                 "/train.cc", FLAGS_list, []() -> absl::Status {
                   QRES_ASSIGN_OR_RETURN(train::TrainConfig config, ConfigFromFlags());
                   std::signal(SIGINT, OnSignal);
                   std::signal(SIGTERM, OnSignal);
                   return train::Train(config, [] { return stop_requested.load(); });
                 });
}

}  // namespace
}  // namespace qres::tools

int main(int argc, char** argv) { return qres::tools::Main(argc, argv); }
