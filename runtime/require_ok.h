// REQUIRE_OK for Catch2 tests of the runtime: REQUIRE that a kiln::rt::Status is OK, showing it
// when not. (absl::Status has IsOk() in testing/status_matchers.h.)
#ifndef KILN_RUNTIME_REQUIRE_OK_H_
#define KILN_RUNTIME_REQUIRE_OK_H_

#include "catch2/catch.hpp"
#include "runtime/status.h"

#define REQUIRE_OK(expr)                           \
  do {                                             \
    const ::kiln::rt::Status require_ok_ = (expr); \
    INFO(require_ok_.ToString());                  \
    REQUIRE(require_ok_.ok());                     \
  } while (0)

#endif  // KILN_RUNTIME_REQUIRE_OK_H_
