#include "graph/types.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "graph/graph.h"
#include "graph/ops.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

using absl::StatusCode;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

TEST_CASE("TensorData holds each element at its dtype's size, little-endian") {
  struct Case {
    DType dtype;
    std::vector<double> values;
    std::string bytes;
  };
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {DType::kF32, {1.0, -2.5}, Bytes({0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0})},
      {DType::kF64, {1.0}, Bytes({0, 0, 0, 0, 0, 0, 0xf0, 0x3f})},
      {DType::kF16, {1.0, -65504, 0x1p-24, inf}, Bytes({0, 0x3c, 0xff, 0xfb, 1, 0, 0, 0x7c})},
      {DType::kBF16, {1.0, -0x1p-133}, Bytes({0x80, 0x3f, 1, 0x80})},
      {DType::kI8, {-1, 127}, Bytes({0xff, 0x7f})},
      {DType::kI32, {-2, 65536}, Bytes({0xfe, 0xff, 0xff, 0xff, 0, 0, 1, 0})},
      {DType::kI64, {-1}, Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
      {DType::kBool, {1, 0, 1}, Bytes({1, 0, 1})},
  };
  for (const Case& c : cases) {
    INFO(DTypeName(c.dtype));
    const Shape shape({static_cast<int64_t>(c.values.size())});
    TensorData t(Literal(c.dtype, shape, c.values));
    REQUIRE(t.type() == TensorType{c.dtype, shape});
    REQUIRE(t.size() == static_cast<int64_t>(c.values.size()));
    REQUIRE(std::string(t.bytes()) == c.bytes);
    REQUIRE(t.ToLiteral().values == c.values);
    for (size_t i = 0; i < c.values.size(); ++i) REQUIRE(t.at(i) == c.values[i]);
    absl::StatusOr<TensorData> from_bytes = TensorData::FromBytes(c.dtype, shape, c.bytes);
    REQUIRE_THAT(from_bytes.status(), IsOk());
    REQUIRE(*from_bytes == t);
    std::vector<char> packed = *PackLiteral(Literal(c.dtype, shape, c.values));
    REQUIRE(std::string(packed.begin(), packed.end()) == c.bytes);
  }
}

TEST_CASE("TensorData rounds values to its dtype as RoundToDType does") {
  const std::vector<double> values = {0.1,  1.0 / 3, -1e-6, 70000, 1e-40, 2.5,
                                      -3.7, 300,     -129,  1e10,  0.5,   -0.0};
  for (DType dtype : {DType::kF32, DType::kF64, DType::kF16, DType::kBF16, DType::kI8, DType::kI32,
                      DType::kI64, DType::kBool}) {
    INFO(DTypeName(dtype));
    TensorData t(Literal(dtype, Shape({12}), values));
    for (size_t i = 0; i < values.size(); ++i) {
      INFO(values[i]);
      REQUIRE(t.at(i) == RoundToDType(dtype, values[i]));
    }
  }
  // Integers wrap around, i64 beyond 2^63 too.
  REQUIRE(TensorData(Literal::Scalar(DType::kI8, 300)).at(0) == 44);
  REQUIRE(TensorData(Literal(DType::kI64, {1}, {0x1p64 + 0x1p12})).at(0) == 0x1p12);
  REQUIRE(TensorData(Literal(DType::kI64, {1}, {0x1p63})).at(0) == -0x1p63);
  REQUIRE(RoundToDType(DType::kI64, 0x1p63) == -0x1p63);
  REQUIRE(RoundToDType(DType::kI64, 0x1p62) == 0x1p62);
}

TEST_CASE("Every f16 and bf16 bit pattern reads as the value it is and stores back to itself") {
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    INFO(DTypeName(dtype));
    std::string all(2 * 65536, '\0');
    for (int bits = 0; bits < 65536; ++bits) {
      all[2 * bits] = static_cast<char>(bits & 0xff);
      all[2 * bits + 1] = static_cast<char>(bits >> 8);
    }
    TensorData t = *TensorData::FromBytes(dtype, {65536}, all);
    Literal values = t.ToLiteral();
    TensorData again(values);
    for (int bits = 0; bits < 65536; ++bits) {
      const double v = values.values[bits];
      INFO(bits << " reads as " << v);
      if (std::isnan(v)) {
        REQUIRE(std::isnan(again.at(bits)));  // NaN stays NaN (payloads are kept only as bytes)
        continue;
      }
      REQUIRE(RoundToDType(dtype, v) == v);  // an exact value of the dtype
      REQUIRE(again.bytes().substr(2 * bits, 2) == t.bytes().substr(2 * bits, 2));
    }
  }
  // bf16 is the top half of an f32.
  TensorData bf16(Literal::Scalar(DType::kBF16, 3.140625));
  float f = 3.140625f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  uint16_t top;
  std::memcpy(&top, bf16.bytes().data(), 2);
  REQUIRE(top == bits >> 16);
}

TEST_CASE("Copies of a TensorData share its bytes") {
  TensorData t = TensorData::FromFunction(DType::kF32, {1000}, [](int64_t i) { return i * 0.5; });
  REQUIRE(t.at(999) == 499.5);
  TensorData copy = t;
  REQUIRE(copy.SharesBytesWith(t));
  REQUIRE(copy.bytes().data() == t.bytes().data());
  REQUIRE(t.CastTo(DType::kF32).SharesBytesWith(t));
  TensorData f64 = t.CastTo(DType::kF64);
  REQUIRE_FALSE(f64.SharesBytesWith(t));
  REQUIRE(f64.bytes().size() == 8000);
  REQUIRE(f64.at(3) == 1.5);

  // A graph node's attribute, and the initial value of a Variable of the same dtype, share them.
  Graph g;
  Tensor c = ops::Const(g, t, "c");
  Tensor v = ops::Variable(g, "v", DType::kF32, {1000}, ops::Initializer::Value(t));
  REQUIRE_THAT(g.status(), IsOk());
  REQUIRE(g.node(c.node()).attr<TensorData>("value").SharesBytesWith(t));
  REQUIRE(g.node(v.node()).attr<TensorData>("init_value").SharesBytesWith(t));
  // A Variable stores its initial value in its own dtype.
  Tensor w = ops::Variable(g, "w", DType::kF16, {1000}, ops::Initializer::Value(t));
  REQUIRE_THAT(g.status(), IsOk());
  const TensorData& init = g.node(w.node()).attr<TensorData>("init_value");
  REQUIRE(init.dtype() == DType::kF16);
  REQUIRE(init.bytes().size() == 2000);
}

TEST_CASE("The empty TensorData, zeros and equality") {
  TensorData empty;
  REQUIRE(empty.type() == TensorType{DType::kF32, {}});
  REQUIRE(empty.size() == 0);
  REQUIRE(empty.bytes().empty());
  REQUIRE(empty.ToLiteral().values.empty());
  REQUIRE(empty.ToString() == "f32[] {}");
  TensorData zeros = TensorData::Zeros(DType::kBF16, {2, 3});
  REQUIRE(zeros.ToLiteral().values == std::vector<double>(6, 0.0));
  REQUIRE(zeros.bytes() == std::string(12, '\0'));
  REQUIRE(zeros == TensorData(Literal(DType::kBF16, {2, 3})));
  REQUIRE(zeros != TensorData::Zeros(DType::kF16, {2, 3}));
  REQUIRE(zeros != TensorData::Zeros(DType::kBF16, {3, 2}));
  REQUIRE(TensorData::Zeros(DType::kF32, {0, 4}).size() == 0);
  // Equal by bits: the same NaN is equal to itself, +0 and -0 differ.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  REQUIRE(TensorData(Literal::Scalar(DType::kF32, nan)) ==
          TensorData(Literal::Scalar(DType::kF32, nan)));
  REQUIRE(TensorData(Literal::Scalar(DType::kF32, 0.0)) !=
          TensorData(Literal::Scalar(DType::kF32, -0.0)));
  TensorData long_one = TensorData::FromFunction(DType::kI32, {20}, [](int64_t i) { return i; });
  REQUIRE(long_one.ToString() == "i32[20] {0, 1, 2, 3, 4, 5, ..., 14, 15, 16, 17, 18, 19}");
}

TEST_CASE("TensorData::FromBytes checks the byte count and bool bytes") {
  REQUIRE_THAT(TensorData::FromBytes(DType::kF32, {2}, std::string(7, '\0')).status(),
               StatusIs(StatusCode::kInvalidArgument,
                        "f32[2] tensor has 7 bytes of data, expected 8 (2 elements of 4 bytes) "
                        "or none"));
  REQUIRE_THAT(
      TensorData::FromBytes(DType::kBool, {3}, Bytes({1, 0, 0xff})).status(),
      StatusIs(StatusCode::kInvalidArgument, "bool tensor element 2 is byte 255, not 0 or 1"));
  absl::StatusOr<TensorData> none = TensorData::FromBytes(DType::kI8, {4}, "");
  REQUIRE_THAT(none.status(), IsOk());
  REQUIRE(none->size() == 0);
  REQUIRE(none->shape() == Shape({4}));
}

}  // namespace
}  // namespace kiln
