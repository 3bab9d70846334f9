// Status propagation macros for Kiln's compile-time libraries (Abseil 20220623 has no public ones).
//
//   KILN_RETURN_IF_ERROR(DoThing());
//   KILN_ASSIGN_OR_RETURN(Graph g, LoadGraph(path));
//
// Both evaluate their argument once and return the failing absl::Status from the enclosing
// function, which must return absl::Status or absl::StatusOr<T>.
#ifndef KILN_GRAPH_STATUS_MACROS_H_
#define KILN_GRAPH_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KILN_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status kiln_status_ = (expr);        \
    if (!kiln_status_.ok()) return kiln_status_; \
  } while (false)

#define KILN_STATUS_CONCAT_INNER_(a, b) a##b
#define KILN_STATUS_CONCAT_(a, b) KILN_STATUS_CONCAT_INNER_(a, b)

#define KILN_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_ASSIGN_OR_RETURN_IMPL_(KILN_STATUS_CONCAT_(kiln_statusor_, __LINE__), lhs, expr)

#define KILN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)   \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // KILN_GRAPH_STATUS_MACROS_H_
