#include "qres/dist/data_parallel.h"

#include <cmath>
#include <cstring>
#include <exception>
#include <thread>
#include <typeinfo>

#include "ATen/ops/tensor.h"
#include "ATen/ops/zeros.h"
#include "ATen/ops/zeros_like.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "c10/core/GradMode.h"
#include "c10/util/Exception.h"
#include "qres/base/status_macros.h"
#include "qres/dist/gradient_sum.h"
#include "qres/io/settings_text.h"

namespace qres::dist {

DataParallel::DataParallel() = default;
DataParallel::DataParallel(Group group, std::chrono::milliseconds timeout)
    : group_(std::move(group)), timeout_(timeout) {}
DataParallel::~DataParallel() = default;

absl::StatusOr<std::unique_ptr<DataParallel>> DataParallel::Join(const Environment& env, Transport transport,
                                                                 std::chrono::milliseconds timeout) {
  QRES_ASSIGN_OR_RETURN(Group group, Connect(env, transport, timeout));
  return std::unique_ptr<DataParallel>(new DataParallel(std::move(group), timeout));
}

std::string DataParallel::BackendName(bool cuda) const {
  if (single()) return "";
  return cuda ? group_->process_group->getBackend(c10::DeviceType::CUDA)->getBackendName() : "gloo";
}

absl::Status DataParallel::Broadcast(const std::vector<at::Tensor>& tensors) {
  if (single()) return absl::OkStatus();
  return Run("sharing rank 0's initial weights", [&] {
    at::NoGradGuard no_grad;
    for (const at::Tensor& t : tensors) {
      std::vector<at::Tensor> one = {t};
      group_->process_group->broadcast(one)->wait();
    }
  });
}

BatchSlice DataParallel::Slice(int64_t n) const {
  const int64_t r = rank(), size = world_size();
  return {n * r / size, n * (r + 1) / size, n};
}

absl::Status DataParallel::OverlapGradientSums(const std::vector<at::Tensor>& params, int64_t bucket_bytes) {
  if (single() || bucket_bytes <= 0) return absl::OkStatus();
  QRES_ASSIGN_OR_RETURN(overlapped_, OverlappedGradientSum::Create(*group_, params, bucket_bytes));
  return absl::OkStatus();
}

void DataParallel::Backward(const at::Tensor& loss, const BatchSlice& slice, const std::vector<at::Tensor>& params) {
  if (single()) {
    loss.backward();
    return;
  }
  // Summed during backward, unless a rank has no sample in this batch (then the Reducer, which
  // waits for every rank's gradients, is not armed on any rank).
  const bool overlapped = overlapped_ != nullptr && slice.n >= world_size();
  if (overlapped) overlapped_->ExpectBackward();
  if (loss.defined()) (loss * slice.share()).backward();
  if (overlapped) return;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : params) {
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);  // a rank with no sample in the batch
    grads.push_back(p.grad());
  }
  SumInOneAllreduce(*group_->process_group, grads);
}

absl::Status DataParallel::Reduce(std::vector<double>& values, Reduction how) {
  if (single()) return absl::OkStatus();
  return Run("a collective", [&] {
    std::vector<at::Tensor> tensor = {at::tensor(values, at::kDouble)};
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp(how == Reduction::kSum ? c10d::ReduceOp::SUM : c10d::ReduceOp::MAX);
    group_->process_group->allreduce(tensor, options)->wait();
    const at::Tensor reduced = tensor[0].contiguous();
    values.assign(reduced.data_ptr<double>(), reduced.data_ptr<double>() + reduced.numel());
  });
}

void DataParallel::SumInPlace(at::Tensor& tensor) {
  if (single()) return;
  std::vector<at::Tensor> one = {tensor.contiguous()};
  group_->process_group->allreduce(one)->wait();
  tensor = one[0];
}

void DataParallel::Barrier() {
  if (!single()) group_->process_group->barrier()->wait();
}

absl::StatusOr<bool> DataParallel::AnyStops(bool stop) {
  std::vector<double> flag = {stop ? 1.0 : 0.0};
  QRES_RETURN_IF_ERROR(Reduce(flag));
  return flag[0] > 0;
}

absl::Status DataParallel::CheckSameSettings(const io::SettingsMap& settings) {
  if (single()) return absl::OkStatus();
  const std::string mine = io::SettingsText(settings);
  // Every rank reads every rank's (a few hundred bytes each), so all of them name the same difference.
  std::vector<std::string> all(world_size());
  std::string failed;  // a rank's announced setup error, if one failed before it got here
  QRES_RETURN_IF_ERROR(Run("comparing the ranks' settings", [&] {
    group_->store->set(absl::StrCat("settings/", rank()), mine);
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    for (int r = 0; r < world_size() && failed.empty(); ++r) {
      const std::string key = absl::StrCat("settings/", r), failure = absl::StrCat("setup_failed/", r);
      // Polled, not a blocking get: a rank that failed before here said so under its own key.
      while (!group_->store->check({key})) {
        if (group_->store->check({failure})) {
          const std::vector<uint8_t> why = group_->store->get(failure);
          failed = absl::StrCat("rank ", r, " failed before training: ", std::string(why.begin(), why.end()));
          break;
        }
        TORCH_CHECK_WITH(DistStoreError, std::chrono::steady_clock::now() < deadline, "rank ", r,
                         " did not reach the settings' comparison in time");
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      if (failed.empty()) {
        const std::vector<uint8_t> theirs = group_->store->get(key);
        all[r].assign(theirs.begin(), theirs.end());
      }
    }
    // Rank 0, which serves the store, does not leave before every rank that has not failed has read
    // what it compares: a difference ends them all, each with its own line. The others need not
    // wait (a poll of theirs could find rank 0 gone).
    group_->store->add("settings_read", 1);
    while (rank() == 0) {
      int64_t done = group_->store->add("settings_read", 0);
      for (int r = 0; r < world_size(); ++r) done += group_->store->check({absl::StrCat("setup_failed/", r)});
      if (done >= world_size() || std::chrono::steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }));
  if (!failed.empty()) return absl::FailedPreconditionError(failed);
  const io::SettingsMap first = io::ParseSettingsText(all[0]);
  for (int r = 1; r < world_size(); ++r) {
    const io::SettingsMap other = io::ParseSettingsText(all[r]);
    for (const auto& [key, value] : first) {
      const auto it = other.find(key);
      const std::string theirs = it == other.end() ? "(none)" : it->second;
      if (theirs == value) continue;
      const std::string what = key == "data"     ? "its data (checksums; the same --data_dir contents on every rank)"
                               : key == "resume" ? "its resumed checkpoint (the same --out_dir's on every rank)"
                                                 : absl::StrCat("--", key);
      return absl::FailedPreconditionError(absl::StrCat("rank ", r, " differs from rank 0 in ", what, ": ", theirs,
                                                        " against ", value, "; start every rank alike"));
    }
  }
  return absl::OkStatus();
}

void DataParallel::AnnounceSetupFailure(const std::string& error) {
  if (single()) return;
  try {
    group_->store->set(absl::StrCat("setup_failed/", rank()), error);
  } catch (const std::exception&) {  // the store is gone too: the others find out by its absence
  }
}

absl::Status DataParallel::SyncBuffersAndCheck(const std::vector<at::Tensor>& params,
                                               const std::vector<at::Tensor>& buffers, double index, int64_t epoch) {
  if (single()) return absl::OkStatus();
  QRES_RETURN_IF_ERROR(Run("averaging the BatchNorm statistics", [&] {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> statistics;
    for (const at::Tensor& buffer : buffers) {
      if (buffer.is_floating_point()) statistics.push_back(buffer);  // num_batches_tracked: the same everywhere
    }
    if (statistics.empty()) return;
    SumInOneAllreduce(*group_->process_group, statistics);
    for (at::Tensor& buffer : statistics) buffer.div_(world_size());
  }));
  // Every rank steps with the same gradients, so the weights and the index must agree bit for bit.
  double checksum = 0;
  QRES_RETURN_IF_ERROR(CallTorch("checking the weights", [&] {
    if (params.empty()) return;
    at::Tensor total = at::zeros({}, params.front().options().dtype(at::kDouble));
    for (const at::Tensor& p : params) total += p.detach().sum(at::kDouble);
    checksum = total.item<double>();  // one wait for the device
  }));
  const std::vector<double> mine = {checksum, index};
  // The largest and (negated) smallest over the ranks: all equal when both are this rank's.
  std::vector<double> extremes = {mine[0], -mine[0], mine[1], -mine[1]};
  QRES_RETURN_IF_ERROR(Reduce(extremes, Reduction::kMax));
  for (int i = 0; i < 2; ++i) {
    if (std::isnan(mine[i])) continue;  // diverged weights: the loss check says so, not this one
    const double largest = extremes[2 * i], smallest = -extremes[2 * i + 1];
    if (largest != mine[i] || smallest != mine[i]) {
      return absl::DataLossError(absl::StrFormat(
          "rank %d: its %s differ%s from another rank's at epoch %d (this rank's %.17g, the ranks' range [%.17g, "
          "%.17g])",
          rank(), i == 0 ? "weights" : "quantization index", i == 0 ? "" : "s", epoch, mine[i], smallest, largest));
    }
  }
  return absl::OkStatus();
}

bool DataParallel::IsLostContact(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const c10::DistError&) {
    return true;
  } catch (const std::exception& e) {
    // Gloo's I/O error (a peer reset the connection, a collective timed out), which c10d passes on
    // as it is. Told by its type's name: catching gloo::IoException would define gloo's typeinfo
    // in qres's objects, and libtorch's gloo must stay the only one (design.md, "Distributed").
    return std::strcmp(typeid(e).name(), "N4gloo11IoExceptionE") == 0;
  } catch (...) {
    return false;
  }
}

absl::Status DataParallel::NameLostRanks(absl::Status failed) {
  if (failed.ok() || single()) return failed;
  const std::string message(failed.message());
  std::vector<int> lost;
  bool store_gone = false;
  try {
    const std::string prefix = absl::StrCat("survivors/", failures_++, "/");
    group_->store->set(absl::StrCat(prefix, rank()), std::string("1"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    for (;;) {
      lost.clear();
      for (int r = 0; r < world_size(); ++r) {
        if (!group_->store->check({absl::StrCat(prefix, r)})) lost.push_back(r);
      }
      if (lost.empty() || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const std::exception&) {
    store_gone = true;
  }
  std::string who = store_gone ? "rank 0 (it serves the rendezvous store)" : "";
  if (!store_gone && !lost.empty())
    who = absl::StrCat(lost.size() == 1 ? "rank " : "ranks ", absl::StrJoin(lost, ", "));
  if (who.empty()) return failed;
  return absl::Status(failed.code(), absl::StrCat(message, "; lost: ", who));
}

}  // namespace qres::dist
