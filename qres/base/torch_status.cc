#include "qres/base/torch_status.h"

#include "absl/strings/str_cat.h"

namespace qres {

absl::Status FromTorchError(const c10::Error& error, absl::string_view context) {
  // what_without_backtrace() still spans several lines for some errors; keep the first.
  std::string message = error.what_without_backtrace();
  if (size_t newline = message.find('\n'); newline != std::string::npos) message.resize(newline);
  std::string text = context.empty() ? message : absl::StrCat(context, ": ", message);
  if (dynamic_cast<const c10::IndexError*>(&error) != nullptr ||
      dynamic_cast<const c10::ValueError*>(&error) != nullptr ||
      dynamic_cast<const c10::TypeError*>(&error) != nullptr) {
    return absl::InvalidArgumentError(text);
  }
  if (dynamic_cast<const c10::NotImplementedError*>(&error) != nullptr) {
    return absl::UnimplementedError(text);
  }
  if (dynamic_cast<const c10::OutOfMemoryError*>(&error) != nullptr) {
    return absl::ResourceExhaustedError(text);
  }
  return absl::InternalError(text);
}

}  // namespace qres
