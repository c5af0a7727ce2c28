#include "qres/dist/gradient_sum.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "ATen/ops/cat.h"
#include "qres/base/torch_status.h"
#include "torch/csrc/distributed/c10d/comm.hpp"
#include "torch/csrc/distributed/c10d/reducer.hpp"

namespace qres::dist {
namespace {

// The bucket's allreduce, a plain sum (the Reducer's own hook divides by the world size).
class SumHook : public c10d::CppCommHookInterface<c10::intrusive_ptr<c10d::ProcessGroup>> {
 public:
  using CppCommHookInterface::CppCommHookInterface;
  c10::intrusive_ptr<c10::ivalue::Future> runHook(c10d::GradBucket& bucket) override {
    std::vector<at::Tensor> tensors = {bucket.getBufferRef()};
    return state_->allreduce(tensors)->getFuture();
  }
};

}  // namespace

void SumInOneAllreduce(c10d::ProcessGroup& group, const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> views;
  for (const at::Tensor& t : tensors) views.push_back(t.view(-1));
  std::vector<at::Tensor> flat = {at::cat(views)};
  group.allreduce(flat)->wait();
  int64_t offset = 0;
  for (at::Tensor& view : views) {
    view.copy_(flat[0].slice(0, offset, offset + view.numel()));
    offset += view.numel();
  }
}

absl::StatusOr<std::unique_ptr<OverlappedGradientSum>> OverlappedGradientSum::Create(
    const Group& group, const std::vector<at::Tensor>& params, int64_t bucket_bytes) {
  return CallTorch("setting up the gradients' allreduce", [&] {
    const std::vector<size_t> limits = {
        static_cast<size_t>(std::min<int64_t>(c10d::kDefaultFirstBucketBytes, bucket_bytes)),
        static_cast<size_t>(bucket_bytes)};
    auto [buckets, bucket_limits] = c10d::compute_bucket_assignment_by_size(params, limits);
    // Assigned in parameter order; reversed, they come in the order backward fills them.
    std::reverse(buckets.begin(), buckets.end());
    std::vector<int64_t> reversed_limits(bucket_limits.rbegin(), bucket_limits.rend());
    auto reducer = std::make_unique<c10d::Reducer>(
        params, std::move(buckets), group.process_group, std::vector<bool>(params.size(), false), bucket_bytes,
        /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false, std::unordered_map<size_t, std::string>(),
        static_cast<int64_t>(limits[0]),
        /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false, std::move(reversed_limits));
    reducer->register_comm_hook(std::make_unique<SumHook>(group.process_group));
    return std::unique_ptr<OverlappedGradientSum>(new OverlappedGradientSum(std::move(reducer)));
  });
}

OverlappedGradientSum::OverlappedGradientSum(std::unique_ptr<c10d::Reducer> reducer) : reducer_(std::move(reducer)) {}

OverlappedGradientSum::~OverlappedGradientSum() = default;

void OverlappedGradientSum::ExpectBackward() { reducer_->prepare_for_backward({}); }

}  // namespace qres::dist
