#include <string>

#include "catch2/catch.hpp"
#include "google/protobuf/text_format.h"
#include "test/toolchain/wiring_test.pb.h"

namespace {

TEST_CASE("Generated protobuf code round-trips through binary and text formats") {
  kiln::test::Wiring w;
  w.set_name("dense1/matmul");
  w.add_dims(128);
  w.add_dims(784);
  (*w.mutable_attrs())["alpha"] = 0.5f;

  std::string bytes;
  REQUIRE(w.SerializeToString(&bytes));
  kiln::test::Wiring back;
  REQUIRE(back.ParseFromString(bytes));
  REQUIRE(back.name() == "dense1/matmul");
  REQUIRE(back.dims_size() == 2);
  REQUIRE(back.dims(1) == 784);
  REQUIRE(back.attrs().at("alpha") == 0.5f);

  std::string text;
  REQUIRE(google::protobuf::TextFormat::PrintToString(w, &text));
  kiln::test::Wiring from_text;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &from_text));
  REQUIRE(from_text.dims(0) == 128);

  // Malformed bytes are rejected, not misread.
  REQUIRE_FALSE(back.ParseFromString(std::string("\xff\xff\xff\xff", 4)));
}

}  // namespace
