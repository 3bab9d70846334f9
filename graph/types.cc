#include "graph/types.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

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
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dtype '", name, "' (expected f32, f64, f16, bf16, i8, i32, i64, bool)"));
}

bool IsFloat(DType d) {
  return d == DType::kF32 || d == DType::kF64 || d == DType::kF16 || d == DType::kBF16;
}
bool IsInteger(DType d) { return d == DType::kI8 || d == DType::kI32 || d == DType::kI64; }

int64_t DTypeSize(DType d) {
  switch (d) {
    case DType::kF64:
    case DType::kI64: return 8;
    case DType::kF32:
    case DType::kI32: return 4;
    case DType::kF16:
    case DType::kBF16: return 2;
    case DType::kI8:
    case DType::kBool: return 1;
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
      return absl::InvalidArgumentError(
          absl::StrCat("shapes ", a.ToString(), " and ", b.ToString(), " do not broadcast"));
    }
    dims[i] = da == 1 ? db : da;
  }
  return Shape(std::move(dims));
}

std::string TensorType::ToString() const {
  return absl::StrCat(DTypeName(dtype), shape.ToString());
}

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
  // An i64 keeps the double's value up to 2^63: a double is exact to 2^53 and holds no more bits.
  if (bits == 64 && std::fabs(t) < 0x1p63) return t;
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

// ---- TensorData ----

// Stored bytes are the host's own representation of each element, which is the little-endian one
// the format promises only on a little-endian host. Every host Kiln builds on (x86-64, aarch64) is
// one; a big-endian port would swap bytes in StoreElement/LoadElement.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "TensorData assumes a little-endian host");

namespace {

// IEEE binary16 bits of `v`, which is already an f16 value (RoundToDType), an infinity or NaN.
uint16_t HalfBits(double v) {
  const uint16_t sign = std::signbit(v) ? 0x8000 : 0;
  if (std::isnan(v)) return sign | 0x7e00;
  const double a = std::fabs(v);
  if (std::isinf(a)) return sign | 0x7c00;
  if (a == 0) return sign;
  int exp;
  const double m = std::frexp(a, &exp);  // a = m * 2^exp, 0.5 <= m < 1
  if (exp - 1 >= -14) {                  // normal: 1.f * 2^(exp - 1)
    return sign | static_cast<uint16_t>((exp - 1 + 15) << 10) |
           static_cast<uint16_t>(std::ldexp(m, 11) - 1024);
  }
  return sign | static_cast<uint16_t>(std::ldexp(a, 24));  // subnormal: a multiple of 2^-24
}

double HalfValue(uint16_t bits) {
  const double sign = (bits & 0x8000) ? -1.0 : 1.0;
  const int e = (bits >> 10) & 0x1f;
  const int f = bits & 0x3ff;
  if (e == 31) return f ? std::copysign(NAN, sign) : sign * INFINITY;
  if (e == 0) return sign * std::ldexp(f, -24);
  return sign * std::ldexp(f + 1024, e - 25);
}

// Stores `v`, rounded to `dtype`, at p.
void StoreElement(DType dtype, double v, char* p) {
  switch (dtype) {
    case DType::kF32: {
      const float f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
      return;
    }
    case DType::kF64: std::memcpy(p, &v, 8); return;
    case DType::kF16: {
      const uint16_t h = HalfBits(RoundToDType(DType::kF16, v));
      std::memcpy(p, &h, 2);
      return;
    }
    case DType::kBF16: {
      // A bf16 value is an f32 whose low 16 bits are zero.
      const float f = static_cast<float>(RoundToDType(DType::kBF16, v));
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      const uint16_t top = std::isnan(f) ? static_cast<uint16_t>((bits >> 16) | 0x0040)
                                         : static_cast<uint16_t>(bits >> 16);
      std::memcpy(p, &top, 2);
      return;
    }
    case DType::kI8: {
      const int8_t x = static_cast<int8_t>(RoundToDType(dtype, v));
      std::memcpy(p, &x, 1);
      return;
    }
    case DType::kI32: {
      const int32_t x = static_cast<int32_t>(RoundToDType(dtype, v));
      std::memcpy(p, &x, 4);
      return;
    }
    case DType::kI64: {
      const int64_t x = static_cast<int64_t>(RoundToDType(dtype, v));
      std::memcpy(p, &x, 8);
      return;
    }
    case DType::kBool: *p = v != 0 ? 1 : 0; return;
  }
}

double LoadElement(DType dtype, const char* p) {
  switch (dtype) {
    case DType::kF32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::kF64: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return HalfValue(h);
    }
    case DType::kBF16: {
      uint16_t top;
      std::memcpy(&top, p, 2);
      const uint32_t bits = static_cast<uint32_t>(top) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case DType::kI8: return static_cast<int8_t>(*p);
    case DType::kI32: {
      int32_t x;
      std::memcpy(&x, p, 4);
      return x;
    }
    case DType::kI64: {
      int64_t x;
      std::memcpy(&x, p, 8);
      return static_cast<double>(x);
    }
    case DType::kBool: return *p != 0 ? 1.0 : 0.0;
  }
  return 0;
}

void StoreElements(DType dtype, const std::vector<double>& values, char* out) {
  const int64_t width = DTypeSize(dtype);
  for (size_t i = 0; i < values.size(); ++i) StoreElement(dtype, values[i], out + i * width);
}

}  // namespace

TensorData::TensorData(const Literal& literal) : dtype_(literal.dtype), shape_(literal.shape) {
  if (literal.values.empty()) return;
  auto bytes = std::make_shared<std::string>(literal.values.size() * DTypeSize(dtype_), '\0');
  StoreElements(dtype_, literal.values, bytes->data());
  bytes_ = std::move(bytes);
}

TensorData TensorData::Zeros(DType dtype, Shape shape) {
  const int64_t n = shape.NumElements();
  if (n == 0) return TensorData(dtype, std::move(shape), nullptr);
  // Zero bytes are zero in every dtype (+0.0, false).
  return TensorData(dtype, std::move(shape),
                    std::make_shared<const std::string>(n * DTypeSize(dtype), '\0'));
}

TensorData TensorData::FromFunction(DType dtype, Shape shape,
                                    absl::FunctionRef<double(int64_t)> value_at) {
  const int64_t n = shape.NumElements();
  if (n == 0) return TensorData(dtype, std::move(shape), nullptr);
  const int64_t width = DTypeSize(dtype);
  auto bytes = std::make_shared<std::string>(n * width, '\0');
  char* out = bytes->data();
  for (int64_t i = 0; i < n; ++i) StoreElement(dtype, value_at(i), out + i * width);
  return TensorData(dtype, std::move(shape), std::move(bytes));
}

absl::StatusOr<TensorData> TensorData::FromBytes(DType dtype, Shape shape, std::string bytes) {
  const int64_t n = shape.NumElements();
  const int64_t width = DTypeSize(dtype);
  if (bytes.empty()) return TensorData(dtype, std::move(shape), nullptr);
  if (static_cast<int64_t>(bytes.size()) != n * width) {
    return absl::InvalidArgumentError(
        absl::StrCat(TensorType{dtype, shape}.ToString(), " tensor has ", bytes.size(),
                     " bytes of data, expected ", n * width, " (", n, " elements of ", width,
                     " byte", width == 1 ? "" : "s", ") or none"));
  }
  if (dtype == DType::kBool) {
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (bytes[i] != 0 && bytes[i] != 1) {
        return absl::InvalidArgumentError(absl::StrCat("bool tensor element ", i, " is byte ",
                                                       static_cast<int>(bytes[i] & 0xff),
                                                       ", not 0 or 1"));
      }
    }
  }
  return TensorData(dtype, std::move(shape), std::make_shared<const std::string>(std::move(bytes)));
}

int64_t TensorData::size() const {
  return bytes_ ? static_cast<int64_t>(bytes_->size()) / DTypeSize(dtype_) : 0;
}

double TensorData::at(int64_t i) const {
  return LoadElement(dtype_, bytes_->data() + i * DTypeSize(dtype_));
}

std::string_view TensorData::bytes() const {
  return bytes_ ? std::string_view(*bytes_) : std::string_view();
}

Literal TensorData::ToLiteral() const {
  const int64_t n = size();
  std::vector<double> values(n);
  const int64_t width = DTypeSize(dtype_);
  const char* p = bytes_ ? bytes_->data() : nullptr;
  for (int64_t i = 0; i < n; ++i) values[i] = LoadElement(dtype_, p + i * width);
  return Literal(dtype_, shape_, std::move(values));
}

TensorData TensorData::CastTo(DType dtype) const {
  if (dtype == dtype_) return *this;
  if (!bytes_) return TensorData(dtype, shape_, nullptr);
  const int64_t n = size();
  const int64_t width = DTypeSize(dtype);
  auto bytes = std::make_shared<std::string>(n * width, '\0');
  for (int64_t i = 0; i < n; ++i) StoreElement(dtype, at(i), bytes->data() + i * width);
  return TensorData(dtype, shape_, std::move(bytes));
}

std::string TensorData::ToString() const {
  std::string s = absl::StrCat(type().ToString(), " {");
  const int64_t n = size();
  for (int64_t i = 0; i < n; ++i) {
    if (n > 12 && i == 6) {
      absl::StrAppend(&s, ", ...");
      i = n - 6;
    }
    absl::StrAppend(&s, i ? ", " : "", at(i));
  }
  return s + "}";
}

bool operator==(const TensorData& a, const TensorData& b) {
  return a.dtype_ == b.dtype_ && a.shape_ == b.shape_ && a.bytes() == b.bytes();
}

absl::StatusOr<std::vector<char>> PackLiteral(const Literal& l) {
  std::vector<char> bytes(l.size() * DTypeSize(l.dtype));
  StoreElements(l.dtype, l.values, bytes.data());
  return bytes;
}

}  // namespace kiln
