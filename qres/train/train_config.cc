#include "qres/train/train_config.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "qres/base/status_macros.h"
#include "qres/dist/process_group.h"

namespace qres::train {

absl::Status TrainConfig::Validate() const {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (out_dir.empty()) return bad("--out_dir is empty: give a folder (. for this one)");
  if (epochs <= 0) return bad("--epochs=", epochs, " must be > 0");
  if (!(lr >= 0.0) || !std::isfinite(lr)) return bad("--lr=", lr, " must be a finite number >= 0");
  if (batch_size < 0) return bad("--batch_size=", batch_size, " must be > 0");
  if (tensorboard_every < 0) return bad("--tensorboard_every=", tensorboard_every, " must be >= 0");
  if (resume && !resume_from.empty()) {
    return bad("--resume and --resume_from: give one (--resume continues the run's own checkpoint)");
  }
  // More threads than the machine runs only slows LibTorch down (an absurd count hangs it).
  const int64_t cpu_threads = std::max(1u, std::thread::hardware_concurrency());
  if (threads < 0 || threads > cpu_threads) {
    return bad("--threads=", threads, " must be in [0, ", cpu_threads, "] (this machine runs ", cpu_threads,
               " threads; 0: LibTorch's default)");
  }
  if (dist_bucket_mb < 0 || dist_bucket_mb > 1024) {
    return bad("--dist_bucket_mb=", dist_bucket_mb, " must be in [0, 1024] (0: one allreduce after backward)");
  }
  if (dist_timeout_s < 1) return bad("--dist_timeout=", dist_timeout_s, " must be >= 1 second");
  return dist::ChooseTransport(dist_backend, cuda).status();
}

}  // namespace qres::train
