#include "graph/types.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kiln {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF64: return "f64";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kI8: return "i8";
    case DType::kI32: return "i32";
    case DType::kI64: return "i64";
    case DType::kBool: return "bool";
  }
  return "?";
}

absl::StatusOr<DType> ParseDType(const std::string& name) {
  for (DType d : {DType::kF32, DType::kF64, DType::kF16, DType::kBF16, DType::kI8, DType::kI32,
                  DType::kI64, DType::kBool}) {
    if (name == DTypeName(d)) return d;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype '", name,
                                                 "' (expected f32, f64, f16, bf16, i8, i32, i64, bool)"));
}

bool IsFloat(DType d) {
  return d == DType::kF32 || d == DType::kF64 || d == DType::kF16 || d == DType::kBF16;
}
bool IsInteger(DType d) { return d == DType::kI8 || d == DType::kI32 || d == DType::kI64; }

int64_t DTypeSize(DType d) {
  switch (d) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kF16: case DType::kBF16: return 2;
    case DType::kI8: case DType::kBool: return 1;
  }
  return 0;
}

int64_t Shape::NumElements() const {
  int64_t n = 1;
  for (int64_t d : dims_) n *= d;
  return n;
}

std::vector<int64_t> Shape::Strides() const {
  std::vector<int64_t> strides(dims_.size(), 1);
  for (int i = rank() - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims_[i + 1];
  return strides;
}

std::string Shape::ToString() const { return absl::StrCat("[", absl::StrJoin(dims_, ","), "]"); }

absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b) {
  int rank = std::max(a.rank(), b.rank());
  std::vector<int64_t> dims(rank);
  for (int i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.rank() ? 1 : a[i - (rank - a.rank())];
    int64_t db = i < rank - b.rank() ? 1 : b[i - (rank - b.rank())];
    if (da != db && da != 1 && db != 1) {
      return absl::InvalidArgumentError(absl::StrCat("shapes ", a.ToString(), " and ", b.ToString(),
                                                     " do not broadcast"));
    }
    dims[i] = da == 1 ? db : da;
  }
  return Shape(std::move(dims));
}

std::string TensorType::ToString() const { return absl::StrCat(DTypeName(dtype), shape.ToString()); }

namespace {

// Rounds to a float with `mantissa` explicit bits and IEEE exponent range [min_exp, max_exp].
double RoundToFloatFormat(double v, int mantissa, int min_exp, int max_exp) {
  if (!std::isfinite(v) || v == 0) return v;
  int exp;
  std::frexp(v, &exp);  // v = m * 2^exp, 0.5 <= |m| < 1
  // Subnormals keep fewer bits.
  int bits = mantissa + 1 - std::max(0, min_exp - (exp - 1));
  if (bits <= 0) return std::copysign(0.0, v);
  double scale = std::ldexp(1.0, bits - exp);
  double r = std::nearbyint(v * scale) / scale;  // ties to even under the default rounding mode
  if (std::fabs(r) >= std::ldexp(1.0, max_exp + 1)) return std::copysign(INFINITY, v);
  return r;
}

double WrapInteger(double v, int bits) {
  if (!std::isfinite(v)) return 0;
  double t = std::trunc(v);
  if (bits == 64) return t;  // exact up to 2^53, which is all a double holds
  double m = std::ldexp(1.0, bits);
  double w = std::fmod(t, m);
  if (w < 0) w += m;
  if (w >= m / 2) w -= m;
  return w;
}

}  // namespace

double RoundToDType(DType dtype, double v) {
  switch (dtype) {
    case DType::kF64: return v;
    case DType::kF32: return static_cast<double>(static_cast<float>(v));
    case DType::kF16: return RoundToFloatFormat(v, 10, -14, 15);
    case DType::kBF16: return RoundToFloatFormat(v, 7, -126, 127);
    case DType::kI8: return WrapInteger(v, 8);
    case DType::kI32: return WrapInteger(v, 32);
    case DType::kI64: return WrapInteger(v, 64);
    case DType::kBool: return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

Literal::Literal(DType dtype, Shape shape)
    : dtype(dtype), shape(std::move(shape)), values(this->shape.NumElements(), 0.0) {}

Literal::Literal(DType dtype, Shape shape, std::vector<double> values)
    : dtype(dtype), shape(std::move(shape)), values(std::move(values)) {}

Literal Literal::Scalar(DType dtype, double value) {
  return Literal(dtype, Shape(), std::vector<double>{kiln::RoundToDType(dtype, value)});
}

void Literal::RoundToDType() {
  if (dtype == DType::kF64) return;
  for (double& v : values) v = kiln::RoundToDType(dtype, v);
}

std::string Literal::ToString() const {
  std::string s = absl::StrCat(type().ToString(), " {");
  const int64_t n = size();
  for (int64_t i = 0; i < n; ++i) {
    if (n > 12 && i == 6) {
      absl::StrAppend(&s, ", ...");
      i = n - 6;
    }
    absl::StrAppend(&s, i ? ", " : "", values[i]);
  }
  return s + "}";
}

absl::StatusOr<std::vector<char>> PackLiteral(const Literal& l) {
  std::vector<char> bytes(l.size() * DTypeSize(l.dtype));
  for (int64_t i = 0; i < l.size(); ++i) {
    const double v = l.values[i];
    char* p = bytes.data() + i * DTypeSize(l.dtype);
    switch (l.dtype) {
      case DType::kF32: { float f = static_cast<float>(v); std::memcpy(p, &f, 4); break; }
      case DType::kF64: std::memcpy(p, &v, 8); break;
      case DType::kI32: { int32_t x = static_cast<int32_t>(v); std::memcpy(p, &x, 4); break; }
      case DType::kI64: { int64_t x = static_cast<int64_t>(v); std::memcpy(p, &x, 8); break; }
      case DType::kI8:
      case DType::kBool: { int8_t x = static_cast<int8_t>(v); std::memcpy(p, &x, 1); break; }
      default: return absl::UnimplementedError(absl::StrCat("no machine representation for ", DTypeName(l.dtype)));
    }
  }
  return bytes;
}

}  // namespace kiln
