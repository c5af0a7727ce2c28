// Data-parallel training: what the ranks of a torchrun launch do together, or a world of one
// process, where every call is local and free. Each rank trains on its slice of every global
// batch; the gradients are summed (during backward, in buckets, or after it), so every rank steps
// with the whole batch's gradient and stays a bit-identical replica, which SyncBuffersAndCheck
// verifies once per epoch.
//
//   QRES_ASSIGN_OR_RETURN(std::unique_ptr<DataParallel> ranks, DataParallel::Join(env, Transport::kGloo, timeout));
//   QRES_RETURN_IF_ERROR(ranks->Broadcast(weights));            // rank 0's initial weights, everyone's
//   QRES_RETURN_IF_ERROR(ranks->OverlapGradientSums(params, 25 << 20));
//   QRES_RETURN_IF_ERROR(ranks->Run("the training step", [&] {
//     const BatchSlice slice = ranks->Slice(batch_size);
//     ranks->Backward(slice.empty() ? at::Tensor() : LossOn(slice), slice, params);
//     optimizer.step();
//   }));
#ifndef QRES_DIST_DATA_PARALLEL_H_
#define QRES_DIST_DATA_PARALLEL_H_

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ATen/core/Tensor.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "qres/base/torch_status.h"
#include "qres/dist/environment.h"
#include "qres/dist/process_group.h"
#include "qres/io/settings_text.h"

namespace qres::dist {

class OverlappedGradientSum;

// One rank's part of a global batch: samples [begin, end) of n.
struct BatchSlice {
  int64_t begin = 0, end = 0, n = 0;
  bool empty() const { return end <= begin; }
  bool whole() const { return begin == 0 && end == n; }
  // The rank's weight in the batch's mean loss, so that the ranks' gradients sum to the batch's.
  double share() const { return n > 0 ? static_cast<double>(end - begin) / static_cast<double>(n) : 0.0; }
};

class DataParallel {
 public:
  enum class Reduction { kSum, kMax };

  // A world of one process.
  DataParallel();
  // Connects this rank to the others (Connect: every rank within `timeout`).
  static absl::StatusOr<std::unique_ptr<DataParallel>> Join(const Environment& env, Transport transport,
                                                            std::chrono::milliseconds timeout);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int rank() const { return group_ ? group_->env.rank : 0; }
  int world_size() const { return group_ ? group_->env.world_size : 1; }
  bool single() const { return !group_.has_value(); }
  bool lead() const { return rank() == 0; }  // rank 0 prints and writes
  // The backend that sums tensors on the GPU ("nccl" or "gloo"), or on the CPU ("gloo").
  std::string BackendName(bool cuda) const;

  // Rank 0's values of `tensors` (the initial weights and buffers), on every rank.
  absl::Status Broadcast(const std::vector<at::Tensor>& tensors);
  // This rank's part of a global batch of n samples; a world of one has all of it.
  BatchSlice Slice(int64_t n) const;
  // From now on the gradients of `params` are summed while backward runs (c10d's Reducer, buckets
  // of about `bucket_bytes`); without it, after backward. Call it once the parameters are final:
  // a resume's load replaces their gradient accumulators, which the Reducer hooks.
  absl::Status OverlapGradientSums(const std::vector<at::Tensor>& params, int64_t bucket_bytes);
  // Backward of this rank's mean `loss` over its slice (undefined for an empty slice), weighted by
  // its share, and the sum of `params`' gradients over the ranks: the whole batch's gradient.
  // Throws c10::Error: call it inside Run.
  void Backward(const at::Tensor& loss, const BatchSlice& slice, const std::vector<at::Tensor>& params);
  // Sums (or takes the maxima of) `values` over the ranks, in place.
  absl::Status Reduce(std::vector<double>& values, Reduction how = Reduction::kSum);
  // Sums `tensor` over the ranks, in place. Throws c10::Error: call it inside Run.
  void SumInPlace(at::Tensor& tensor);
  // Waits until every rank is here (a benchmark's rounds start together). Throws: inside Run.
  void Barrier();
  // Whether any rank asks to stop: the stop vote before every batch.
  absl::StatusOr<bool> AnyStops(bool stop);
  // Checks that every rank was started with the same `settings` (flag name -> value; "data": the
  // data's checksums, "resume": where a resumed run starts): FailedPrecondition on every rank,
  // naming the first setting that differs and the ranks, before any of them trains.
  absl::Status CheckSameSettings(const io::SettingsMap& settings);
  // Tells the other ranks that this one failed before training, with its one-line error, so that
  // their CheckSameSettings stops waiting for it and names it instead of waiting out the timeout.
  void AnnounceSetupFailure(const std::string& error);
  // Averages the floating-point `buffers` (BatchNorm statistics: each rank saw its slices) over the
  // ranks, then checks that every rank holds the same weights (a checksum of `params`) and
  // quantization `index`: DataLoss naming this rank and `epoch` where they differ (NaN weights are
  // left to the divergence check).
  absl::Status SyncBuffersAndCheck(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& buffers,
                                   double index, int64_t epoch);

  // Whether `error` says a peer or the store is gone or too slow, by its type: c10d's store,
  // network and backend errors (NCCL's among them), and Gloo's I/O errors (a reset connection, a
  // timeout). Another error (a rank's own, say out of memory) names no lost rank.
  static bool IsLostContact(const std::exception_ptr& error);

  // Runs `fn` (LibTorch work and collectives) and turns what it throws into a one-line Status
  // naming this rank and `what`; after a lost connection or a timeout, also the ranks that are gone.
  template <typename Fn>
  absl::Status Run(const std::string& what, Fn&& fn) {
    if (single()) return CallTorch(what, std::forward<Fn>(fn));
    bool lost_contact = false;  // told by the exception's type, not its text
    absl::Status status = CallTorch(
        absl::StrCat("rank ", rank(), ": ", what, " failed (another rank died, or hung past --dist_timeout)"), [&] {
          try {
            fn();
          } catch (...) {
            lost_contact = IsLostContact(std::current_exception());
            throw;
          }
        });
    return lost_contact ? NameLostRanks(std::move(status)) : status;
  }

 private:
  DataParallel(Group group, std::chrono::milliseconds timeout);
  // After a collective lost contact, each surviving rank checks in at the store and waits a few
  // seconds for the others; `failed` then names the ranks that never did (rank 0 when the store it
  // serves is gone).
  absl::Status NameLostRanks(absl::Status failed);

  std::optional<Group> group_;
  std::chrono::milliseconds timeout_{0};  // --dist_timeout
  std::unique_ptr<OverlappedGradientSum> overlapped_;
  int64_t failures_ = 0;  // the survivors' check-ins of each failure under their own keys
};

}  // namespace qres::dist

#endif  // QRES_DIST_DATA_PARALLEL_H_
