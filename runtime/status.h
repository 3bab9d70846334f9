// Errors as values for Kiln's runtime: a status code (the numbering of kiln_status_code, which is
// absl::StatusCode's) and a message. The runtime is what apps embed, so it carries no Abseil;
// compile-time libraries convert with ToAbslStatus (graph/status_macros.h).
#ifndef KILN_RUNTIME_STATUS_H_
#define KILN_RUNTIME_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

#include "runtime/kiln_runtime.h"

namespace kiln {
namespace rt {

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(kiln_status_code code, std::string message)
      : code_(code), message_(code == KILN_OK ? "" : std::move(message)) {}

  bool ok() const { return code_ == KILN_OK; }
  kiln_status_code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "OUT_OF_RANGE: message", or "OK".
  std::string ToString() const;

 private:
  kiln_status_code code_ = KILN_OK;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) {
  return Status(KILN_INVALID_ARGUMENT, std::move(m));
}
inline Status NotFoundError(std::string m) { return Status(KILN_NOT_FOUND, std::move(m)); }
inline Status FailedPreconditionError(std::string m) {
  return Status(KILN_FAILED_PRECONDITION, std::move(m));
}
inline Status OutOfRangeError(std::string m) { return Status(KILN_OUT_OF_RANGE, std::move(m)); }
inline Status DataLossError(std::string m) { return Status(KILN_DATA_LOSS, std::move(m)); }
inline Status InternalError(std::string m) { return Status(KILN_INTERNAL, std::move(m)); }
inline Status UnavailableError(std::string m) { return Status(KILN_UNAVAILABLE, std::move(m)); }
inline Status ResourceExhaustedError(std::string m) {
  return Status(KILN_RESOURCE_EXHAUSTED, std::move(m));
}

// A value or the error that prevented it.
template <typename T>
class StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT: implicit, like absl::StatusOr
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "StatusOr needs a value or an error");
    if (status_.ok()) status_ = InternalError("StatusOr constructed from an OK status");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace rt
}  // namespace kiln

#define KILN_RT_CONCAT_INNER_(a, b) a##b
#define KILN_RT_CONCAT_(a, b) KILN_RT_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (a kiln::rt::Status) is not OK.
#define KILN_RT_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::kiln::rt::Status kiln_rt_status_ = (expr);       \
    if (!kiln_rt_status_.ok()) return kiln_rt_status_; \
  } while (0)

// `lhs = value of expr` (a kiln::rt::StatusOr), or returns its error.
#define KILN_RT_ASSIGN_OR_RETURN(lhs, expr) \
  KILN_RT_ASSIGN_OR_RETURN_IMPL_(KILN_RT_CONCAT_(kiln_rt_statusor_, __LINE__), lhs, expr)
#define KILN_RT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()

#endif  // KILN_RUNTIME_STATUS_H_
