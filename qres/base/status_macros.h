// QRES_RETURN_IF_ERROR and QRES_ASSIGN_OR_RETURN: early return on a non-OK absl::Status.
//
// Debian's Abseil 20220623 predates ABSL_RETURN_IF_ERROR, so qres defines its own:
//
//   absl::Status Run() {
//     QRES_RETURN_IF_ERROR(Validate(options));
//     QRES_ASSIGN_OR_RETURN(Dataset data, Dataset::Load(root, split));
//     ...
//   }
#ifndef QRES_BASE_STATUS_MACROS_H_
#define QRES_BASE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define QRES_STATUS_CONCAT_INNER_(a, b) a##b
#define QRES_STATUS_CONCAT_(a, b) QRES_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) once and returns it from the enclosing function if not OK.
#define QRES_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status qres_status_ = (expr);        \
    if (!qres_status_.ok()) return qres_status_; \
  } while (false)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status if not OK, otherwise moves the value
// into `lhs`, which may be a declaration (`auto x`, `Foo f`) or an existing variable.
#define QRES_ASSIGN_OR_RETURN(lhs, rexpr) \
  QRES_ASSIGN_OR_RETURN_IMPL_(QRES_STATUS_CONCAT_(qres_statusor_, __LINE__), lhs, rexpr)

#define QRES_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr)  \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // QRES_BASE_STATUS_MACROS_H_
