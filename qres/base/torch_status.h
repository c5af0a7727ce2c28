// Mapping LibTorch's exceptions (c10::Error) to absl::Status at qres API boundaries.
//
//   absl::StatusOr<torch::Tensor> LoadTensor(const std::string& path) {
//     return CallTorch("loading " + path, [&] { return ReadTensor(path); });
//   }
#ifndef QRES_BASE_TORCH_STATUS_H_
#define QRES_BASE_TORCH_STATUS_H_

#include <exception>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "c10/util/Exception.h"

namespace qres {

// The Status for a c10::Error raised while doing `context`: the message is the first line of the
// error (no C++ stack trace), prefixed by the context. IndexError, ValueError and TypeError map to
// InvalidArgument, NotImplementedError to Unimplemented, OutOfMemoryError to ResourceExhausted,
// everything else to Internal.
absl::Status FromTorchError(const c10::Error& error, absl::string_view context);

// Runs `fn` and returns its result, or the mapped Status if it throws c10::Error or
// std::exception. `fn` may return void (gives absl::Status), a value T (gives StatusOr<T>), or an
// absl::Status / StatusOr itself (passed through).
namespace internal {
template <typename T>
struct IsStatusOr : std::false_type {};
template <typename T>
struct IsStatusOr<absl::StatusOr<T>> : std::true_type {};
}  // namespace internal

template <typename Fn>
auto CallTorch(absl::string_view context, Fn&& fn) {
  using Result = std::invoke_result_t<Fn>;
  using Return =
      std::conditional_t<std::is_void_v<Result> || std::is_same_v<Result, absl::Status>, absl::Status,
                         std::conditional_t<internal::IsStatusOr<Result>::value, Result, absl::StatusOr<Result>>>;
  try {
    if constexpr (std::is_void_v<Result>) {
      std::forward<Fn>(fn)();
      return Return(absl::OkStatus());
    } else {
      return Return(std::forward<Fn>(fn)());
    }
  } catch (const c10::Error& error) {
    return Return(FromTorchError(error, context));
  } catch (const std::exception& error) {
    return Return(absl::InternalError(std::string(context) + ": " + error.what()));
  }
}

}  // namespace qres

#endif  // QRES_BASE_TORCH_STATUS_H_
