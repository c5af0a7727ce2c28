// The precision a net's forward pass and loss run in (--precision): fp32, or bf16/fp16 under
// LibTorch's autocast with fp32 master weights, so the optimizers (and the quantized update) stay
// fp32. bf16 runs on the CPU and on CUDA; fp16 needs loss scaling and is CUDA-only.
//
//   QRES_ASSIGN_OR_RETURN(const Precision precision, ParsePrecision("bf16", device.is_cuda()));
//   {
//     const AutocastScope autocast(precision, device);  // forward and loss
//     loss = at::cross_entropy_loss(net->forward(images), labels);
//   }
//   loss.backward();  // outside the scope, as torch.autocast is used
#ifndef QRES_TRAIN_PRECISION_H_
#define QRES_TRAIN_PRECISION_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "c10/core/Device.h"
#include "c10/core/ScalarType.h"

namespace qres::train {

enum class Precision { kFp32, kBf16, kFp16 };

std::string ToString(Precision precision);

// fp32, bf16 or fp16 (any case); fp16 on the CPU, or an unknown name, is an error naming the flag.
absl::StatusOr<Precision> ParsePrecision(absl::string_view name, bool cuda);

// Whether this CPU runs bf16 natively (AVX512-BF16 or AMX): elsewhere ATen emulates it and a bf16
// step is likely slower than fp32.
bool CpuHasNativeBf16();

// Autocast on `device` in `precision` while it lives (nothing for fp32); its end clears autocast's
// cache of cast weights, which would otherwise hold the last step's copies.
class AutocastScope {
 public:
  AutocastScope(Precision precision, const c10::Device& device);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_type_;
  bool was_enabled_ = false;
  c10::ScalarType was_dtype_ = c10::kFloat;
};

}  // namespace qres::train

#endif  // QRES_TRAIN_PRECISION_H_
