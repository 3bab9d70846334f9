// Catch2 matchers for absl::Status in Kiln's tests.
//
//   REQUIRE_THAT(LoadGraph(path).status(), IsOk());
//   REQUIRE_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, "inner dimensions differ"));
#ifndef KILN_TESTING_STATUS_MATCHERS_H_
#define KILN_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "catch2/catch.hpp"

namespace kiln {

// Matches a Status with the given code whose message contains `substring` (any message if empty).
class StatusIsMatcher : public Catch::MatcherBase<absl::Status> {
 public:
  StatusIsMatcher(absl::StatusCode code, std::string substring)
      : code_(code), substring_(std::move(substring)) {}
  bool match(const absl::Status& status) const override;
  std::string describe() const override;

 private:
  absl::StatusCode code_;
  std::string substring_;
};

inline StatusIsMatcher IsOk() { return StatusIsMatcher(absl::StatusCode::kOk, ""); }
inline StatusIsMatcher StatusIs(absl::StatusCode code, std::string substring = "") {
  return StatusIsMatcher(code, std::move(substring));
}

}  // namespace kiln

#endif  // KILN_TESTING_STATUS_MATCHERS_H_
