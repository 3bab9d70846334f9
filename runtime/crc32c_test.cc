#include "runtime/crc32c.h"

#include <cstring>
#include <string>

#include "catch2/catch.hpp"

namespace kiln {
namespace rt {
namespace {

TEST_CASE("Crc32c matches the published check values") {
  // RFC 3720 (iSCSI) B.4 and the common "123456789" check value.
  REQUIRE(Crc32c("123456789", 9) == 0xe3069283u);
  std::string zeros(32, '\0'), ones(32, '\xff');
  REQUIRE(Crc32c(zeros.data(), zeros.size()) == 0x8a9136aau);
  REQUIRE(Crc32c(ones.data(), ones.size()) == 0x62a8ab43u);
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  REQUIRE(Crc32c(ascending.data(), ascending.size()) == 0x46dd794eu);
  REQUIRE(Crc32c("", 0) == 0u);
}

TEST_CASE("Crc32c continues across pieces at every split point") {
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over.";
  const uint32_t whole = Crc32c(text.data(), text.size());
  for (size_t split = 0; split <= text.size(); ++split) {
    REQUIRE(Crc32c(text.data() + split, text.size() - split, Crc32c(text.data(), split)) == whole);
  }
}

TEST_CASE("Masking round-trips and changes the value") {
  for (uint32_t crc : {0u, 1u, 0xe3069283u, 0xffffffffu}) {
    REQUIRE(UnmaskCrc32c(MaskCrc32c(crc)) == crc);
    REQUIRE(MaskCrc32c(crc) != crc);
  }
}

}  // namespace
}  // namespace rt
}  // namespace kiln
