#include "testing/status_matchers.h"

namespace kiln {

bool StatusIsMatcher::match(const absl::Status& status) const {
  return status.code() == code_ &&
         std::string(status.message()).find(substring_) != std::string::npos;
}

std::string StatusIsMatcher::describe() const {
  std::string d = "has code " + absl::StatusCodeToString(code_);
  if (!substring_.empty()) d += " and a message containing \"" + substring_ + "\"";
  return d;
}

}  // namespace kiln
