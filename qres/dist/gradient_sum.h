// Sums the parameters' gradients over the ranks while backward runs: c10d's Reducer (the engine of
// Python's DistributedDataParallel) packs them in buckets in reverse parameter order, the order
// backward produces them, and starts a bucket's allreduce as soon as its last gradient is ready;
// backward returns with every gradient summed. The sum is plain (no division by the world size):
// each rank weights its loss by its share of the batch, so the sum is the whole batch's gradient.
//
//   QRES_ASSIGN_OR_RETURN(auto sum, OverlappedGradientSum::Create(group, net->parameters(), 25 << 20));
//   sum->ExpectBackward();  // every step, before backward
//   loss.backward();        // the gradients are summed when it returns
#ifndef QRES_DIST_GRADIENT_SUM_H_
#define QRES_DIST_GRADIENT_SUM_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "ATen/core/Tensor.h"
#include "absl/status/statusor.h"
#include "qres/dist/process_group.h"

namespace c10d {
class Reducer;
}  // namespace c10d

namespace qres::dist {

// Sums `tensors` (float32, any shapes) over the ranks, in place, in one allreduce of their
// concatenation: fewer, larger messages than one allreduce each. Throws c10::Error on failure.
void SumInOneAllreduce(c10d::ProcessGroup& group, const std::vector<at::Tensor>& tensors);

class OverlappedGradientSum {
 public:
  // Buckets of about `bucket_bytes` (the first one 1 MiB, so the last layers' gradients leave early,
  // as in DDP). Every rank must create it with the same parameters.
  static absl::StatusOr<std::unique_ptr<OverlappedGradientSum>> Create(const Group& group,
                                                                       const std::vector<at::Tensor>& params,
                                                                       int64_t bucket_bytes);
  ~OverlappedGradientSum();

  // Arms the next backward: its gradients are summed. Every parameter must get a gradient from it.
  // A backward that is not armed leaves the gradients as they are.
  void ExpectBackward();

 private:
  explicit OverlappedGradientSum(std::unique_ptr<c10d::Reducer> reducer);
  std::unique_ptr<c10d::Reducer> reducer_;
};

}  // namespace qres::dist

#endif  // QRES_DIST_GRADIENT_SUM_H_
