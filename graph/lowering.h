// The lowering facet of an op: how it becomes code. Op definitions (graph/ops/*.cc) describe their
// computation through this small interface; the compiler (passes/graph_lowering.cc) implements it with
// upstream MLIR (linalg, tensor, arith, math), so the graph library itself never includes MLIR.
#ifndef KILN_GRAPH_LOWERING_H_
#define KILN_GRAPH_LOWERING_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "graph/graph.h"
#include "graph/types.h"

namespace kiln {

// A value in the code being generated: a whole tensor in LoweringContext, one element in
// ScalarBuilder. Opaque here; the compiler gives it meaning.
class IrValue {
 public:
  IrValue() = default;
  explicit IrValue(void* impl) : impl_(impl) {}
  void* impl() const { return impl_; }
  bool valid() const { return impl_ != nullptr; }

 private:
  void* impl_ = nullptr;
};

enum class ScalarOp {
  // unary
  kNeg, kAbs, kSign, kExp, kLog, kLog1p, kSqrt, kRsqrt, kTanh, kErf, kSin, kCos, kFloor, kNot,
  // binary
  kAdd, kSub, kMul, kDiv, kPow, kMax, kMin, kAnd,
  // comparisons (bool results)
  kEqual, kLess, kGreater,
};

// Builds the per-element computation of an elementwise op. Values carry their element type; binary
// operands must have the same one.
class ScalarBuilder {
 public:
  virtual ~ScalarBuilder() = default;
  virtual IrValue Apply(ScalarOp op, const std::vector<IrValue>& operands) = 0;
  // A constant of the same element type as `like`.
  virtual IrValue ConstantLike(double value, IrValue like) = 0;
  virtual IrValue Select(IrValue cond, IrValue a, IrValue b) = 0;
  virtual IrValue Convert(IrValue x, DType to) = 0;

  IrValue Apply(ScalarOp op, IrValue x) { return Apply(op, std::vector<IrValue>{x}); }
  IrValue Apply(ScalarOp op, IrValue a, IrValue b) { return Apply(op, std::vector<IrValue>{a, b}); }
};

// Elements of the inputs (after broadcasting) → the output element.
using ScalarFn = std::function<IrValue(ScalarBuilder&, const std::vector<IrValue>&)>;

enum class ReduceKind { kSum, kMax, kMin, kProd };

// What an op's lowering sees: its node, its inputs as tensors, and the structured building blocks.
// Every block returns a tensor of the type it is given; errors are reported through the returned
// Status of the LowerFn (Unimplemented for a case a target does not support).
class LoweringContext {
 public:
  virtual ~LoweringContext() = default;
  virtual const Node& node() const = 0;
  virtual IrValue input(int i) = 0;
  virtual const TensorType& input_type(int i) const = 0;
  virtual void SetOutput(int i, IrValue value) = 0;

  // out[i...] = body(inputs broadcast (NumPy rules) to out's shape).
  virtual IrValue Elementwise(const std::vector<IrValue>& inputs, const TensorType& out,
                              const ScalarFn& body) = 0;
  virtual IrValue Constant(const Literal& value) = 0;
  // Same elements in row-major order, another shape.
  virtual IrValue Reshape(IrValue x, const Shape& shape) = 0;
  // [m,k] x [k,n] (after optional transposes) → out.
  virtual IrValue MatMul(IrValue a, IrValue b, bool transpose_a, bool transpose_b,
                         const TensorType& out) = 0;
  // Reduces the (sorted, normalized) `axes` away: out has x's shape without them.
  virtual IrValue Reduce(IrValue x, const std::vector<int64_t>& axes, ReduceKind kind,
                         const TensorType& out) = 0;
};

// An op's lowering; declared with OpDef::Lower.
using LowerFn = std::function<absl::Status(LoweringContext&)>;

// The lowering of an elementwise op: its inputs broadcast to its one output, `body` per element.
LowerFn ElementwiseLowering(ScalarFn body);

}  // namespace kiln

#endif  // KILN_GRAPH_LOWERING_H_
