#include "graph/status_macros.h"

#include <string>

#include "catch2/catch.hpp"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

absl::StatusOr<int> ParsePositive(int x) {
  if (x <= 0) return absl::InvalidArgumentError("not positive: " + std::to_string(x));
  return x;
}

absl::StatusOr<int> DoubleIt(int x) {
  KILN_ASSIGN_OR_RETURN(int v, ParsePositive(x));
  return 2 * v;
}

absl::Status Check(int x) {
  KILN_RETURN_IF_ERROR(ParsePositive(x).status());
  return absl::OkStatus();
}

TEST_CASE("KILN_ASSIGN_OR_RETURN passes values and errors through") {
  absl::StatusOr<int> ok = DoubleIt(21);
  REQUIRE_THAT(ok.status(), IsOk());
  REQUIRE(*ok == 42);
  REQUIRE_THAT(DoubleIt(-1).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "not positive: -1"));
}

TEST_CASE("KILN_RETURN_IF_ERROR returns the first error") {
  REQUIRE_THAT(Check(3), IsOk());
  REQUIRE_THAT(Check(0), StatusIs(absl::StatusCode::kInvalidArgument, "not positive"));
  REQUIRE_THAT(Check(0), !StatusIs(absl::StatusCode::kInternal));
}

}  // namespace
}  // namespace kiln
