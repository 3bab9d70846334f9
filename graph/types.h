// Element types, static shapes and concrete tensor values (literals): the vocabulary every stage of
// Kiln shares. Compile-time only; the runtime has its own tiny C ABI types.
#ifndef KILN_GRAPH_TYPES_H_
#define KILN_GRAPH_TYPES_H_

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

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

inline std::ostream& operator<<(std::ostream& os, const TensorType& t) { return os << t.ToString(); }

// A concrete tensor value, row-major. Values are held as doubles whatever the dtype: every dtype Kiln
// has (f16/bf16/f32/f64, integers up to 2^53, bool) is exact in a double, and RoundToDType() gives each
// element the value the dtype itself would hold. Used for constants and by the reference interpreter.
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

// A literal's elements in the dtype's machine representation, as compiled code keeps them (bool as
// one byte). Unimplemented for f16 and bf16.
absl::StatusOr<std::vector<char>> PackLiteral(const Literal& l);

// The value a dtype holds for `v`: IEEE round-to-nearest for floats, truncation and two's-complement
// wrap-around for integers, v != 0 for bool.
double RoundToDType(DType dtype, double v);

}  // namespace kiln

#endif  // KILN_GRAPH_TYPES_H_
