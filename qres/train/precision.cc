#include "qres/train/precision.h"

#include "ATen/autocast_mode.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace qres::train {

std::string ToString(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
  }
  return "?";
}

absl::StatusOr<Precision> ParsePrecision(absl::string_view name, bool cuda) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "fp32") return Precision::kFp32;
  if (lower == "bf16") return Precision::kBf16;
  if (lower == "fp16") {
    if (!cuda) {
      return absl::InvalidArgumentError(
          "--precision=fp16 needs a GPU (-g 1): on the CPU use bf16, which needs no loss scaling");
    }
    return Precision::kFp16;
  }
  return absl::InvalidArgumentError(absl::StrCat("--precision=", name, ": use fp32, bf16 or fp16"));
}

bool CpuHasNativeBf16() {  // as qres/optim/fused_cpu.cc asks for AVX2
  return __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
}

AutocastScope::AutocastScope(Precision precision, const c10::Device& device) : device_type_(device.type()) {
  if (precision == Precision::kFp32) return;
  active_ = true;
  was_enabled_ = at::autocast::is_autocast_enabled(device_type_);
  was_dtype_ = at::autocast::get_autocast_dtype(device_type_);
  at::autocast::set_autocast_dtype(device_type_, precision == Precision::kBf16 ? at::kBFloat16 : at::kHalf);
  at::autocast::set_autocast_enabled(device_type_, true);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  at::autocast::set_autocast_enabled(device_type_, was_enabled_);
  at::autocast::set_autocast_dtype(device_type_, was_dtype_);
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
}

}  // namespace qres::train
