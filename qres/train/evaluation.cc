#include "qres/train/evaluation.h"

#include <chrono>

#include "ATen/ops/argmax.h"
#include "ATen/ops/bincount.h"
#include "ATen/ops/zeros.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "c10/core/GradMode.h"
#include "qres/base/torch_status.h"

namespace qres::train {

absl::StatusOr<Evaluation> EvaluateBatches(models::Net& net, data::Batches& batches, int64_t classes, bool train_mode,
                                           int64_t shard, int64_t shards) {
  const bool was_training = net.is_training();
  auto evaluation = CallTorch("evaluating the net", [&] {
    const auto start = std::chrono::steady_clock::now();
    net.train(train_mode);
    at::NoGradGuard no_grad;
    batches.StartEpoch(0);
    at::Tensor pairs;  // true * classes + predicted, summed on the device, read once at the end
    for (int64_t b = shard; b < batches.size(); b += shards) {
      data::Batch batch = batches.Get(b);
      const at::Tensor predicted = at::argmax(net.forward(batch.images), 1);
      const at::Tensor counts = at::bincount(batch.labels * classes + predicted, {}, classes * classes);
      pairs = pairs.defined() ? pairs.add_(counts) : counts;
    }
    Evaluation result;
    result.confusion =
        pairs.defined() ? pairs.cpu().view({classes, classes}) : at::zeros({classes, classes}, at::kLong);
    result.samples = result.confusion.sum().item<int64_t>();
    result.correct = result.confusion.diagonal().sum().item<int64_t>();
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return result;
  });
  net.train(was_training);
  return evaluation;
}

std::vector<std::string> DescribePerClass(const Evaluation& evaluation, const std::vector<std::string>& class_names) {
  std::vector<std::string> lines;
  const int64_t classes = evaluation.confusion.size(0);
  const at::Tensor confusion = evaluation.confusion.contiguous();
  const int64_t* m = confusion.data_ptr<int64_t>();
  lines.push_back("Per-class accuracy:");
  for (int64_t c = 0; c < classes; ++c) {
    int64_t total = 0;
    for (int64_t p = 0; p < classes; ++p) total += m[c * classes + p];
    const std::string name = c < static_cast<int64_t>(class_names.size()) ? class_names[c] : absl::StrCat(c);
    lines.push_back(absl::StrFormat("  %3d %-14s %6d / %6d  %.4f", c, name, m[c * classes + c], total,
                                    total ? static_cast<double>(m[c * classes + c]) / total : 0.0));
  }
  if (classes <= 20) {
    lines.push_back("Confusion matrix (rows: true class, columns: predicted):");
    std::string header = "       ";
    for (int64_t p = 0; p < classes; ++p) absl::StrAppendFormat(&header, "%6d", p);
    lines.push_back(header);
    for (int64_t c = 0; c < classes; ++c) {
      std::string row = absl::StrFormat("  %3d  ", c);
      for (int64_t p = 0; p < classes; ++p) absl::StrAppendFormat(&row, "%6d", m[c * classes + p]);
      lines.push_back(row);
    }
  }
  return lines;
}

}  // namespace qres::train
