// kiln::ops — the builder functions, one per registered op (definitions in graph/ops/<family>.cc)
// plus a few composites made of them. Every function takes its graph from its inputs (source ops
// take it explicitly) and records the caller's file and line through its defaulted `loc` argument,
// so errors point at the user's code. Operators (+ - * / and unary -) are at the end.
#ifndef KILN_GRAPH_OPS_H_
#define KILN_GRAPH_OPS_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph.h"
#include "graph/types.h"

namespace kiln {
namespace ops {

#define KILN_LOC ::kiln::SourceLoc loc = ::kiln::SourceLoc::Current()

// ---- Sources, identities and casts (graph/ops/core.cc) ----
// A constant: the literal's values rounded to its dtype, or a TensorData as it is (large constants
// are best built as TensorData, at their dtype's size, without a vector of doubles).
Tensor Const(Graph& g, const Literal& value, const std::string& name = "", KILN_LOC);
Tensor Const(Graph& g, TensorData value, const std::string& name = "", KILN_LOC);
// A scalar constant.
Tensor Scalar(Graph& g, double value, DType dtype = DType::kF32, KILN_LOC);
// A named graph input, fed at run time.
Tensor Placeholder(Graph& g, const std::string& name, DType dtype, Shape shape, KILN_LOC);

// How a Variable gets its first value. Random kinds are reproducible: the same seed gives the same
// values on every machine (graph/random.h).
struct Initializer {
  std::string kind =
      "zeros";  // zeros | constant (a) | uniform [a, b) | normal (mean a, stddev b) | value
  double a = 0;
  double b = 0;
  int64_t seed = 0;
  TensorData value;  // for kind "value"; ops::Variable converts it to the Variable's dtype
  static Initializer Zeros() { return {}; }
  static Initializer Constant(double c) { return {"constant", c}; }
  static Initializer Uniform(double lo, double hi, int64_t seed) {
    return {"uniform", lo, hi, seed};
  }
  static Initializer Normal(double mean, double stddev, int64_t seed) {
    return {"normal", mean, stddev, seed};
  }
  static Initializer Value(TensorData v) {
    Initializer i;
    i.kind = "value";
    i.value = std::move(v);
    return i;
  }
  static Initializer Value(const Literal& v) { return Value(TensorData(v)); }
};
// Persistent state (parameters, optimizer slots), read by the graph and updated by training steps.
Tensor Variable(Graph& g, const std::string& name, DType dtype, Shape shape,
                Initializer init = Initializer::Zeros(), KILN_LOC);

Tensor Identity(Tensor x, KILN_LOC);
// Identity whose gradient is zero: autodiff stops here.
Tensor StopGradient(Tensor x, KILN_LOC);
Tensor Cast(Tensor x, DType dtype, KILN_LOC);
Tensor ZerosLike(Tensor x, KILN_LOC);
Tensor OnesLike(Tensor x, KILN_LOC);

// ---- Elementwise unary (graph/ops/math.cc) ----
Tensor Neg(Tensor x, KILN_LOC);
Tensor Abs(Tensor x, KILN_LOC);
Tensor Sign(Tensor x, KILN_LOC);
Tensor Exp(Tensor x, KILN_LOC);
Tensor Log(Tensor x, KILN_LOC);
Tensor Log1p(Tensor x, KILN_LOC);
Tensor Sqrt(Tensor x, KILN_LOC);
Tensor Rsqrt(Tensor x, KILN_LOC);
Tensor Square(Tensor x, KILN_LOC);
Tensor Reciprocal(Tensor x, KILN_LOC);
Tensor Tanh(Tensor x, KILN_LOC);
Tensor Sigmoid(Tensor x, KILN_LOC);
Tensor Relu(Tensor x, KILN_LOC);
// GELU: x·Φ(x) exactly (erf form), or the tanh approximation when `approximate_tanh`.
Tensor Gelu(Tensor x, bool approximate_tanh = false, KILN_LOC);
Tensor Erf(Tensor x, KILN_LOC);
Tensor Sin(Tensor x, KILN_LOC);
Tensor Cos(Tensor x, KILN_LOC);
Tensor Floor(Tensor x, KILN_LOC);

// ---- Elementwise binary with NumPy broadcasting (graph/ops/math.cc) ----
Tensor Add(Tensor a, Tensor b, KILN_LOC);
Tensor Sub(Tensor a, Tensor b, KILN_LOC);
Tensor Mul(Tensor a, Tensor b, KILN_LOC);
Tensor Div(Tensor a, Tensor b, KILN_LOC);
Tensor Pow(Tensor a, Tensor b, KILN_LOC);
Tensor Maximum(Tensor a, Tensor b, KILN_LOC);
Tensor Minimum(Tensor a, Tensor b, KILN_LOC);
// Comparisons and logic give bool tensors.
Tensor Equal(Tensor a, Tensor b, KILN_LOC);
Tensor Less(Tensor a, Tensor b, KILN_LOC);
Tensor Greater(Tensor a, Tensor b, KILN_LOC);
Tensor LogicalAnd(Tensor a, Tensor b, KILN_LOC);
Tensor LogicalNot(Tensor x, KILN_LOC);
// cond ? a : b, elementwise, all three broadcast together.
Tensor Select(Tensor cond, Tensor a, Tensor b, KILN_LOC);

// ---- Reductions (graph/ops/reduce.cc). Empty `axes` means all; negative axes count from the end.
// ----
Tensor ReduceSum(Tensor x, std::vector<int64_t> axes = {}, bool keep_dims = false, KILN_LOC);
Tensor ReduceMean(Tensor x, std::vector<int64_t> axes = {}, bool keep_dims = false, KILN_LOC);
Tensor ReduceMax(Tensor x, std::vector<int64_t> axes = {}, bool keep_dims = false, KILN_LOC);
Tensor ReduceMin(Tensor x, std::vector<int64_t> axes = {}, bool keep_dims = false, KILN_LOC);
Tensor ReduceProd(Tensor x, std::vector<int64_t> axes = {}, bool keep_dims = false, KILN_LOC);
// Index of the largest element along `axis` (first one on ties).
Tensor ArgMax(Tensor x, int64_t axis, DType output_dtype = DType::kI64, KILN_LOC);

// ---- Shapes and data movement (graph/ops/array.cc) ----
// Reshape and BroadcastTo are in graph/ops/core.cc. One dimension of `shape` may be -1 (inferred).
Tensor Reshape(Tensor x, Shape shape, KILN_LOC);
Tensor Transpose(Tensor x, std::vector<int64_t> perm, KILN_LOC);
Tensor BroadcastTo(Tensor x, Shape shape, KILN_LOC);
Tensor Concat(std::vector<Tensor> xs, int64_t axis, KILN_LOC);
// `size` may hold -1: to the end of that dimension.
Tensor Slice(Tensor x, std::vector<int64_t> begin, std::vector<int64_t> size, KILN_LOC);
// Splits `axis` into pieces of the given sizes.
std::vector<Tensor> Split(Tensor x, std::vector<int64_t> sizes, int64_t axis, KILN_LOC);
// paddings: {before, after} per dimension, flattened: [b0, a0, b1, a1, ...].
Tensor Pad(Tensor x, std::vector<int64_t> paddings, double value = 0, KILN_LOC);
// Rows of `params` (along axis 0) picked by integer `indices`: shape indices.shape +
// params.shape[1:].
Tensor Gather(Tensor params, Tensor indices, KILN_LOC);
// The gradient of Gather: zeros of `shape` with `updates` rows added at `indices` (repeats
// accumulate).
Tensor ScatterAdd(Tensor indices, Tensor updates, Shape shape, KILN_LOC);
// Integer `indices` → `depth`-wide one-hot vectors of `dtype` along a new last axis.
Tensor OneHot(Tensor indices, int64_t depth, DType dtype = DType::kF32, KILN_LOC);

// ---- Matrix products (graph/ops/matmul.cc) ----
// [m,k] x [k,n] (after the optional transposes of the last two dims).
Tensor MatMul(Tensor a, Tensor b, bool transpose_a = false, bool transpose_b = false, KILN_LOC);
// [..., m, k] x [..., k, n] with broadcasting batch dimensions.
Tensor BatchMatMul(Tensor a, Tensor b, bool transpose_a = false, bool transpose_b = false,
                   KILN_LOC);

// ---- Convolutions (graph/ops/conv.cc) ----
struct Conv2DOptions {
  std::vector<int64_t> strides = {1, 1};    // {h, w}
  std::vector<int64_t> dilations = {1, 1};  // {h, w}
  std::string padding = "VALID";            // VALID | SAME | EXPLICIT
  std::vector<int64_t> explicit_padding;    // {top, bottom, left, right} when EXPLICIT
};
// NHWC input [n,h,w,c], HWIO filter [kh,kw,c,o] → [n,oh,ow,o].
Tensor Conv2D(Tensor input, Tensor filter, const Conv2DOptions& options = {}, KILN_LOC);
// Gradient of Conv2D with respect to its input (of shape `input_shape`) and to its filter.
Tensor Conv2DBackpropInput(Tensor grad, Tensor filter, Shape input_shape,
                           const Conv2DOptions& options, KILN_LOC);
Tensor Conv2DBackpropFilter(Tensor input, Tensor grad, Shape filter_shape,
                            const Conv2DOptions& options, KILN_LOC);

// ---- Pools (graph/ops/pool.cc) ----
struct Pool2DOptions {
  std::vector<int64_t> ksize = {2, 2};    // {h, w}
  std::vector<int64_t> strides = {2, 2};  // {h, w}
  std::string padding = "VALID";          // VALID | SAME
};
Tensor MaxPool2D(Tensor input, const Pool2DOptions& options = {}, KILN_LOC);
Tensor AvgPool2D(Tensor input, const Pool2DOptions& options = {}, KILN_LOC);
// Gradients of the pools: MaxPool2D's routes `grad` to each window's (first) maximum of `input`.
Tensor MaxPool2DGrad(Tensor input, Tensor grad, const Pool2DOptions& options, KILN_LOC);
Tensor AvgPool2DGrad(Tensor grad, Shape input_shape, const Pool2DOptions& options, KILN_LOC);

// ---- Softmax and the cross-entropy losses (graph/ops/softmax.cc) ----
Tensor Softmax(Tensor logits, int64_t axis = -1, KILN_LOC);
Tensor LogSoftmax(Tensor logits, int64_t axis = -1, KILN_LOC);
// Per-example cross-entropy of softmax(logits [n,c]) against integer class `labels` [n] → [n].
Tensor SparseSoftmaxCrossEntropy(Tensor logits, Tensor labels, KILN_LOC);
// The same against a dense distribution `labels` [n,c] → [n].
Tensor SoftmaxCrossEntropy(Tensor logits, Tensor labels, KILN_LOC);

// ---- Random numbers (graph/ops/random.cc). `counter` (i64 scalar) selects a fresh stream per
// step: the values are a pure function of (seed, counter, element index). ----
Tensor RandomUniform(Graph& g, Shape shape, int64_t seed, double low = 0, double high = 1,
                     DType dtype = DType::kF32, Tensor counter = {}, KILN_LOC);
Tensor RandomNormal(Graph& g, Shape shape, int64_t seed, double mean = 0, double stddev = 1,
                    DType dtype = DType::kF32, Tensor counter = {}, KILN_LOC);

// ---- Composites of the primitives above (graph/ops/composite.cc) ----
// Inverted dropout: zero each element with probability `rate`, scale the rest by 1/(1-rate).
Tensor Dropout(Tensor x, double rate, int64_t seed, Tensor counter = {}, KILN_LOC);
// Normalizes over the last axis: (x - mean) / sqrt(var + epsilon) * gamma + beta.
Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, double epsilon = 1e-5, KILN_LOC);
// Normalizes over all axes but the last with the given (batch or running) mean and variance.
Tensor BatchNormInference(Tensor x, Tensor mean, Tensor variance, Tensor gamma, Tensor beta,
                          double epsilon = 1e-5, KILN_LOC);
// Training form: normalizes with the batch's own statistics, which it also returns {y, mean, var}.
std::vector<Tensor> BatchNormTraining(Tensor x, Tensor gamma, Tensor beta, double epsilon = 1e-5,
                                      KILN_LOC);

// ---- Operators. The right operand records the source line (operators take no default arguments,
// but a converting constructor's do). ----
struct LocatedTensor {
  LocatedTensor(Tensor t, KILN_LOC) : tensor(std::move(t)), loc(loc) {}
  Tensor tensor;
  SourceLoc loc;
};
struct LocatedScalar {
  LocatedScalar(double v, KILN_LOC) : value(v), loc(loc) {}
  double value;
  SourceLoc loc;
};

}  // namespace ops

Tensor operator+(const Tensor& a, const ops::LocatedTensor& b);
Tensor operator-(const Tensor& a, const ops::LocatedTensor& b);
Tensor operator*(const Tensor& a, const ops::LocatedTensor& b);
Tensor operator/(const Tensor& a, const ops::LocatedTensor& b);
Tensor operator+(const Tensor& a, const ops::LocatedScalar& b);
Tensor operator-(const Tensor& a, const ops::LocatedScalar& b);
Tensor operator*(const Tensor& a, const ops::LocatedScalar& b);
Tensor operator/(const Tensor& a, const ops::LocatedScalar& b);
Tensor operator+(const ops::LocatedScalar& a, const Tensor& b);
Tensor operator-(const ops::LocatedScalar& a, const Tensor& b);
Tensor operator*(const ops::LocatedScalar& a, const Tensor& b);
Tensor operator/(const ops::LocatedScalar& a, const Tensor& b);
Tensor operator-(const Tensor& x);

}  // namespace kiln

#endif  // KILN_GRAPH_OPS_H_
