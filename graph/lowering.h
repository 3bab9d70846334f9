// The lowering facet of an op: how it becomes code. Op definitions (graph/ops/*.cc) describe their
// computation through this small interface; the compiler (passes/node_lowering.cc) implements it
// with upstream MLIR (linalg, tensor, arith, math), so the graph library itself never includes
// MLIR.
//
// Building blocks, from specific to general:
//   Elementwise    per-element code over broadcast inputs
//   Reduce, MatMul the common reductions
//   Generic        a loop nest over the output plus reduction loops, its inputs read at affine
//                  functions of the loops: windows (convolutions, pools), batched contractions,
//                  ArgMax, ScatterAdd
//   Constant, Fill, Reshape, Transpose, ExtractSlice, InsertSlice, Pad: data movement
//   ExternalCall   a call of a C function outside the compiled code: how effects happen
// Per-element code (ScalarBuilder) may also read loop positions (Index) and any tensor element at a
// computed position (Extract): gathers, generated values (random numbers), pool gradients.
// Composites (softmax = reduce max, exp, reduce sum, ...) are lowerings that call several blocks.
#ifndef KILN_GRAPH_LOWERING_H_
#define KILN_GRAPH_LOWERING_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
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
  kNeg,
  kAbs,
  kSign,
  kExp,
  kLog,
  kLog1p,
  kSqrt,
  kRsqrt,
  kTanh,
  kErf,
  kSin,
  kCos,
  kFloor,
  kNot,
  // binary
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMax,
  kMin,
  kAnd,
  // comparisons (bool results)
  kEqual,
  kLess,
  kGreater,
  // binary, integers and indices only: remainder (the dividend's sign, like C++ %), bitwise xor,
  // logical (unsigned) right shift. Integer Add/Sub/Mul wrap, so i64 code can do uint64 arithmetic.
  kRem,
  kXor,
  kShiftRightLogical,
};

// Builds per-element code (the body of an Elementwise or Generic block). Values carry their element
// type; binary operands must have the same one. Besides the dtypes there are index values: loop
// positions and tensor coordinates (64-bit signed); the integer ScalarOps, comparisons and Select
// work on them.
class ScalarBuilder {
 public:
  virtual ~ScalarBuilder() = default;
  virtual IrValue Apply(ScalarOp op, const std::vector<IrValue>& operands) = 0;
  // A constant of the same element type as `like`.
  virtual IrValue ConstantLike(double value, IrValue like) = 0;
  // A constant of `dtype`.
  virtual IrValue Constant(double value, DType dtype) = 0;
  // An integer constant with all 64 bits (a double has 53): for bit-mixing code.
  virtual IrValue IntConstant(int64_t value, DType dtype) = 0;
  virtual IrValue Select(IrValue cond, IrValue a, IrValue b) = 0;
  // To another dtype; index values convert too (through i64).
  virtual IrValue Convert(IrValue x, DType to) = 0;

  // The position of loop `loop` of the enclosing block: out's dims first, then Generic's reduction
  // loops.
  virtual IrValue Index(int loop) = 0;
  virtual IrValue IndexConstant(int64_t value) = 0;
  // A signed integer (any width; not bool) as an index.
  virtual IrValue ToIndex(IrValue integer) = 0;
  // The element of `tensor` (a LoweringContext value) at `index` (one index value per dim). The
  // index must be in bounds: clamp computed indices first.
  virtual IrValue Extract(IrValue tensor, const std::vector<IrValue>& index) = 0;

  IrValue Apply(ScalarOp op, IrValue x) { return Apply(op, std::vector<IrValue>{x}); }
  IrValue Apply(ScalarOp op, IrValue a, IrValue b) { return Apply(op, std::vector<IrValue>{a, b}); }
  // min(max(x, lo), hi) of index values.
  IrValue ClampIndex(IrValue x, int64_t lo, int64_t hi) {
    return Apply(ScalarOp::kMin, Apply(ScalarOp::kMax, x, IndexConstant(lo)), IndexConstant(hi));
  }
};

// The inputs' elements (broadcast, or read at their Generic indices) → the value for the output
// element.
using ScalarFn = std::function<IrValue(ScalarBuilder&, const std::vector<IrValue>&)>;

enum class ReduceKind { kSum, kMax, kMin, kProd };

// One coordinate of a Generic input, an affine function of the block's loops:
// offset + sum of coefficient * loop.
struct AffineIndex {
  std::vector<std::pair<int, int64_t>> terms;  // (loop, coefficient)
  int64_t offset = 0;

  static AffineIndex Loop(int loop, int64_t coefficient = 1) { return {{{loop, coefficient}}, 0}; }
  static AffineIndex Fixed(int64_t offset) { return {{}, offset}; }
  // Loops first, first + 1, ..., first + count - 1.
  static std::vector<AffineIndex> Loops(int first, int count);
  AffineIndex operator+(const AffineIndex& other) const;
  AffineIndex operator+(int64_t constant) const;
};

// A Generic input: a tensor and, per dimension, where the loops read it.
struct GenericInput {
  IrValue tensor;
  std::vector<AffineIndex> index;
};

// Kernels a target's library may provide (oneDNN on x86-64), each with the static parameters it
// takes (runtime/dnnl_kernels.h lists them).
enum class LibraryKernel {
  kMatMul,
  kConv2D,
  kConv2DBackpropInput,
  kConv2DBackpropFilter,
  kBatchMatMul
};

// What an op's lowering sees: its node, its inputs as tensors, and the structured building blocks.
// Every block returns a new tensor value (tensors are immutable); errors are reported through the
// returned Status of the LowerFn (Unimplemented for a case a target does not support).
class LoweringContext {
 public:
  virtual ~LoweringContext() = default;
  virtual const Node& node() const = 0;
  virtual IrValue input(int i) = 0;
  virtual const TensorType& input_type(int i) const = 0;
  virtual void SetOutput(int i, IrValue value) = 0;
  // The type of any tensor value.
  virtual TensorType TypeOf(IrValue x) const = 0;

  // out[i...] = body(inputs broadcast (NumPy rules) to out's shape). The body may also read
  // Index(d) (d < out's rank) and Extract from any tensor: with no inputs this generates a tensor.
  virtual IrValue Elementwise(const std::vector<IrValue>& inputs, const TensorType& out,
                              const ScalarFn& body) = 0;
  // A loop nest: loops [0, rank) run over out's dims, loops [rank, rank + reduction_extents.size())
  // over `reduction_extents`, in order, the last fastest. Each input is read at its affine index
  // (which must stay in bounds: Pad first; a coordinate that is exactly one loop must also span the
  // whole dim). out[p] = `combine` of body(inputs' elements) over the reduction loops in order,
  // starting from its identity (kMax/kMin propagate NaN); without reduction loops out[p] =
  // body(...) and `combine` is unused. The body may read Index(loop) for any loop and Extract.
  virtual IrValue Generic(const std::vector<GenericInput>& inputs,
                          const std::vector<int64_t>& reduction_extents, ReduceKind combine,
                          const TensorType& out, const ScalarFn& body) = 0;
  // A constant tensor holding `value`'s elements (their bytes, as stored).
  virtual IrValue Constant(const TensorData& value) = 0;
  // A tensor of `type` with every element `value`.
  virtual IrValue Fill(double value, const TensorType& type) = 0;
  // Same elements in row-major order, another shape.
  virtual IrValue Reshape(IrValue x, const Shape& shape) = 0;
  // Output dim i is x's dim perm[i].
  virtual IrValue Transpose(IrValue x, const std::vector<int64_t>& perm) = 0;
  // The box of x starting at `offsets` with extents `sizes`, taking every strides[d]-th element.
  virtual IrValue ExtractSlice(IrValue x, const std::vector<int64_t>& offsets,
                               const std::vector<int64_t>& sizes,
                               const std::vector<int64_t>& strides) = 0;
  // `dest` with `source` written into it starting at `offsets`, every strides[d]-th element.
  virtual IrValue InsertSlice(IrValue source, IrValue dest, const std::vector<int64_t>& offsets,
                              const std::vector<int64_t>& strides) = 0;
  // x with low[d] elements of `value` before and high[d] after it in each dim (all >= 0).
  virtual IrValue Pad(IrValue x, const std::vector<int64_t>& low, const std::vector<int64_t>& high,
                      double value) = 0;
  // [m,k] x [k,n] (after optional transposes) → out.
  virtual IrValue MatMul(IrValue a, IrValue b, bool transpose_a, bool transpose_b,
                         const TensorType& out) = 0;
  // Reduces the (sorted, normalized) `axes` away: out has x's shape without them.
  virtual IrValue Reduce(IrValue x, const std::vector<int64_t>& axes, ReduceKind kind,
                         const TensorType& out) = 0;
  // A run-time check that every element of the integer tensor `indices` is in [0, limit): the
  // first one that is not is reported through the runtime (kiln_rt_index_error: the call's status
  // becomes OUT_OF_RANGE naming this node, `what` ("index", "label"), the value and its position).
  // The computation carries on, so the op still defines what an out-of-range element produces.
  virtual void CheckIndices(IrValue indices, int64_t limit, const char* what) = 0;
  // `kernel` of the target's library on `inputs`, giving `out`, when the compilation uses library
  // calls and every operand is f32 with elements; otherwise `fallback()`, which must build the same
  // result from the blocks above (the portable path, and the oracle tests compare the two with).
  virtual IrValue LibraryCall(LibraryKernel kernel, const std::vector<int64_t>& params,
                              const std::vector<IrValue>& inputs, const TensorType& out,
                              const std::function<IrValue()>& fallback) = 0;
  // The lowering of an effect (OpDef::Effects): calls the C function `function`, defined by the app
  // or the runtime, as `void function(kiln_context* context, const T* input..., T* result)` with
  // each input's elements (row-major, in its dtype) and a buffer of `out`'s type for it to fill,
  // and returns what it wrote there. The compiler keeps every such call, in order: none is merged
  // with another, removed when its result is unused, or moved across another call. CPU targets only
  // (the CUDA target rejects host calls as Unimplemented).
  virtual IrValue ExternalCall(const std::string& function, const std::vector<IrValue>& inputs,
                               const TensorType& out) = 0;
};

// An op's lowering; declared with OpDef::Lower.
using LowerFn = std::function<absl::Status(LoweringContext&)>;

// The lowering of an elementwise op: its inputs broadcast to its one output, `body` per element.
LowerFn ElementwiseLowering(ScalarFn body);

// Like Pad, but a negative amount crops that many elements instead.
IrValue PadOrCrop(LoweringContext& c, IrValue x, const std::vector<int64_t>& low,
                  const std::vector<int64_t>& high, double value);

}  // namespace kiln

#endif  // KILN_GRAPH_LOWERING_H_
