// Element types, static shapes and concrete tensor values (TensorData as graphs store them, Literal
// as the reference interpreter computes with them): the vocabulary every stage of Kiln shares.
// Compile-time only; the runtime has its own tiny C ABI types.
#ifndef KILN_GRAPH_TYPES_H_
#define KILN_GRAPH_TYPES_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace kiln {

enum class DType { kF32, kF64, kF16, kBF16, kI8, kI32, kI64, kBool };

// "f32", "f64", "f16", "bf16", "i8", "i32", "i64", "bool".
const char* DTypeName(DType dtype);
absl::StatusOr<DType> ParseDType(const std::string& name);
bool IsFloat(DType dtype);
bool IsInteger(DType dtype);  // i8, i32, i64 (not bool)
int64_t DTypeSize(DType dtype);

// A static shape: the extent of each dimension, outermost first. Rank 0 is a scalar.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {}

  const std::vector<int64_t>& dims() const { return dims_; }
  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t dim(int i) const { return dims_[i]; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t NumElements() const;
  // Row-major strides in elements.
  std::vector<int64_t> Strides() const;
  // "[128,784]"; a scalar is "[]".
  std::string ToString() const;

  friend bool operator==(const Shape& a, const Shape& b) { return a.dims_ == b.dims_; }
  friend bool operator!=(const Shape& a, const Shape& b) { return a.dims_ != b.dims_; }

 private:
  std::vector<int64_t> dims_;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.ToString(); }

// NumPy broadcasting of two shapes; fails with a message naming both when they are incompatible.
absl::StatusOr<Shape> BroadcastShapes(const Shape& a, const Shape& b);

// A tensor's static type: element type and shape.
struct TensorType {
  DType dtype = DType::kF32;
  Shape shape;
  // "f32[128,784]"
  std::string ToString() const;
  friend bool operator==(const TensorType& a, const TensorType& b) {
    return a.dtype == b.dtype && a.shape == b.shape;
  }
};

inline std::ostream& operator<<(std::ostream& os, const TensorType& t) {
  return os << t.ToString();
}

// A tensor value the reference interpreter computes with, row-major: its feeds, fetches, variables
// and every kernel's inputs and outputs. Values are held as doubles whatever the dtype: every dtype
// Kiln has (f16/bf16/f32/f64, integers up to 2^53, bool) is exact in a double, and RoundToDType()
// gives each element the value the dtype itself would hold. Graphs and graph files store tensors as
// TensorData (typed bytes), never as Literals; TensorData(literal) and ToLiteral() convert.
struct Literal {
  DType dtype = DType::kF32;
  Shape shape;
  std::vector<double> values;

  Literal() = default;
  Literal(DType dtype, Shape shape);  // zeros
  Literal(DType dtype, Shape shape, std::vector<double> values);
  static Literal Scalar(DType dtype, double value);

  int64_t size() const { return static_cast<int64_t>(values.size()); }
  TensorType type() const { return {dtype, shape}; }
  // Rounds every value to what `dtype` can represent (float rounding, integer wrap-around).
  void RoundToDType();
  // "f32[2,2] {1, 2, 3, 4}", eliding the middle of long tensors.
  std::string ToString() const;
};

// A stored tensor: a Const's value, a Variable's init_value, any tensor attribute of a graph.
// Elements are in their dtype's machine representation, little-endian, row-major: an f32 takes 4
// bytes, an f64 or i64 8, an i8 1, a bool 1 (0 or 1), an f16 or bf16 2 (its IEEE binary16 or
// bfloat16 bits). Graph files (proto/graph.proto) and compiled constants hold the same bytes, so
// saving, loading and compiling copy them without ever widening them.
//
// The bytes live in a shared immutable buffer: copying a TensorData (and so a node or an attribute
// map) copies a pointer, never the elements, and a TensorData may be read from any number of
// threads. The reference interpreter computes in doubles: ToLiteral() converts, at(i) reads one
// element.
//
// A TensorData holds either shape().NumElements() elements or none: the empty tensor, f32[] without
// elements by default (a Variable's unused init_value). TensorData(literal) keeps the literal's
// element count, so a mismatch is reported by the op that receives it (Const's shape rule).
class TensorData {
 public:
  TensorData() = default;
  // The literal's values, each rounded to its dtype (RoundToDType).
  explicit TensorData(const Literal& literal);
  static TensorData Zeros(DType dtype, Shape shape);
  // Element i is value_at(i) rounded to `dtype`, for i in [0, shape.NumElements()): builds a large
  // tensor without a vector of doubles.
  static TensorData FromFunction(DType dtype, Shape shape,
                                 absl::FunctionRef<double(int64_t)> value_at);
  // Takes `bytes` (little-endian elements, as above) as the tensor's elements. InvalidArgument when
  // they are neither shape.NumElements() elements nor empty (no elements), or when a bool byte is
  // neither 0 nor 1.
  static absl::StatusOr<TensorData> FromBytes(DType dtype, Shape shape, std::string bytes);

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  TensorType type() const { return {dtype_, shape_}; }
  // Elements held: shape().NumElements(), or 0 for the empty tensor.
  int64_t size() const;
  // Element i (< size()) as a double: exact for every dtype, i64 beyond 2^53 rounded.
  double at(int64_t i) const;
  // The elements' bytes (size() * DTypeSize(dtype())); valid while any copy of this TensorData
  // lives.
  std::string_view bytes() const;
  // The interpreter's form: 8 bytes per element.
  Literal ToLiteral() const;
  // The same values in another dtype (each rounded to it); shares the bytes when `dtype` is this
  // one's.
  TensorData CastTo(DType dtype) const;
  // Whether both hold the very same buffer (not merely equal bytes).
  bool SharesBytesWith(const TensorData& other) const { return bytes_ && bytes_ == other.bytes_; }
  // "f32[2,2] {1, 2, 3, 4}", eliding the middle of long tensors.
  std::string ToString() const;

  // Same dtype, shape and bytes (so NaNs compare by their bits).
  friend bool operator==(const TensorData& a, const TensorData& b);
  friend bool operator!=(const TensorData& a, const TensorData& b) { return !(a == b); }

 private:
  TensorData(DType dtype, Shape shape, std::shared_ptr<const std::string> bytes)
      : dtype_(dtype), shape_(std::move(shape)), bytes_(std::move(bytes)) {}

  DType dtype_ = DType::kF32;
  Shape shape_;
  std::shared_ptr<const std::string> bytes_;  // null for the empty tensor
};

// A literal's elements in the dtype's machine representation, as compiled code keeps them: the
// bytes TensorData(l) holds. Cannot fail (the StatusOr is from when f16 and bf16 were refused).
absl::StatusOr<std::vector<char>> PackLiteral(const Literal& l);

// The value a dtype holds for `v`: IEEE round-to-nearest for floats, truncation and
// two's-complement wrap-around for integers (an i64 beyond 2^53 keeps the double's value), v != 0
// for bool; 0 for an integer from NaN or an infinity.
double RoundToDType(DType dtype, double v);

}  // namespace kiln

#endif  // KILN_GRAPH_TYPES_H_
