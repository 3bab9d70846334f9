// Softmax and LogSoftmax, and the softmax cross-entropy losses.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "graph/status_macros.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions
using Ints = std::vector<int64_t>;
using TypesOr = absl::StatusOr<std::vector<TensorType>>;

ShapeFn SoftmaxShape() {
  return [](const InferContext& c) -> TypesOr {
    KILN_RETURN_IF_ERROR(RequireFloat(c.inputs[0], "logits"));
    KILN_RETURN_IF_ERROR(NormalizeAxis(c.attr<int64_t>("axis"), c.inputs[0].shape.rank()).status());
    return std::vector<TensorType>{c.inputs[0]};
  };
}

// Calls f(offset, stride, n) for every 1-D slice of `shape` along `axis`.
template <typename F>
void ForEachSlice(const Shape& shape, int64_t axis, F f) {
  const int64_t n = shape[axis];
  const int64_t inner = shape.Strides()[axis];
  const int64_t outer = shape.NumElements() / std::max<int64_t>(1, n * inner);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) f(o * n * inner + i, inner, n);
  }
}

// log(sum(exp(x))) over a slice, shifted by its maximum so exp never overflows.
double LogSumExp(const double* x, int64_t stride, int64_t n) {
  double max = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j) max = std::max(max, x[j * stride]);
  if (std::isinf(max)) return max;  // all -inf (or some +inf): avoids inf - inf
  double sum = 0;
  for (int64_t j = 0; j < n; ++j) sum += std::exp(x[j * stride] - max);
  return max + std::log(sum);
}

KernelFn SoftmaxKernel(bool log) {
  return [log](KernelContext& c) {
    const Literal& x = c.in(0);
    Literal& y = c.out();
    const int64_t axis = *NormalizeAxis(c.attr<int64_t>("axis"), x.shape.rank());
    ForEachSlice(x.shape, axis, [&](int64_t offset, int64_t stride, int64_t n) {
      const double lse = LogSumExp(x.values.data() + offset, stride, n);
      for (int64_t j = 0; j < n; ++j) {
        const double v = x.values[offset + j * stride] - lse;
        y.values[offset + j * stride] = log ? v : std::exp(v);
      }
    });
    return absl::OkStatus();
  };
}

// log(sum(exp(x))) along `axis`, kept as a size-1 dim. Shifted by the maximum, or by 0 where that
// is infinite (as the kernel: a slice of -inf gives -inf, not NaN).
IrValue LowerLogSumExp(LoweringContext& c, IrValue x, int64_t axis) {
  const TensorType t = c.TypeOf(x);
  Ints reduced = t.shape.dims(), kept = t.shape.dims();
  reduced.erase(reduced.begin() + axis);
  kept[axis] = 1;
  const TensorType reduced_type{t.dtype, Shape(reduced)}, kept_type{t.dtype, Shape(kept)};
  IrValue max = c.Reshape(c.Reduce(x, {axis}, ReduceKind::kMax, reduced_type), kept_type.shape);
  IrValue shift =
      c.Elementwise({max}, kept_type, [](ScalarBuilder& b, const std::vector<IrValue>& m) {
        IrValue finite =
            b.Apply(ScalarOp::kLess, b.Apply(ScalarOp::kAbs, m[0]), b.ConstantLike(INFINITY, m[0]));
        return b.Select(finite, m[0], b.ConstantLike(0, m[0]));
      });
  IrValue exps = c.Elementwise({x, shift}, t, [](ScalarBuilder& b, const std::vector<IrValue>& v) {
    return b.Apply(ScalarOp::kExp, b.Apply(ScalarOp::kSub, v[0], v[1]));
  });
  IrValue sums = c.Reshape(c.Reduce(exps, {axis}, ReduceKind::kSum, reduced_type), kept_type.shape);
  return c.Elementwise({shift, sums}, kept_type,
                       [](ScalarBuilder& b, const std::vector<IrValue>& v) {
                         return b.Apply(ScalarOp::kAdd, v[0], b.Apply(ScalarOp::kLog, v[1]));
                       });
}

// y = exp(x - lse), or x - lse for LogSoftmax.
LowerFn SoftmaxLowering(bool log) {
  return [log](LoweringContext& c) {
    const TensorType& t = c.input_type(0);
    const int64_t axis = *NormalizeAxis(c.node().attr<int64_t>("axis"), t.shape.rank());
    IrValue lse = LowerLogSumExp(c, c.input(0), axis);
    auto body = [log](ScalarBuilder& b, const std::vector<IrValue>& v) {
      IrValue shifted = b.Apply(ScalarOp::kSub, v[0], v[1]);
      return log ? shifted : b.Apply(ScalarOp::kExp, shifted);
    };
    c.SetOutput(0, c.Elementwise({c.input(0), lse}, t, body));
    return absl::OkStatus();
  };
}

KILN_REGISTER_OP(OpDef("Softmax")
                     .Doc("exp(x) / sum(exp(x)) along an axis, max-shifted for "
                          "stability")
                     .Inputs({"logits"})
                     .Attr("axis", AttrType::kInt, int64_t{-1})
                     .Shape(SoftmaxShape())
                     .Grad([](const GradContext& c) {
                       const Tensor& y = c.outputs[0];
                       const Tensor& g = c.output_grads[0];
                       const int64_t axis = c.attr<int64_t>("axis");
                       return std::vector<Tensor>{y * (g - ops::ReduceSum(g * y, {axis}, true))};
                     })
                     .Lower(SoftmaxLowering(false))
                     .Kernel(SoftmaxKernel(false)));

KILN_REGISTER_OP(OpDef("LogSoftmax")
                     .Doc("x - log(sum(exp(x))) along an axis, max-shifted for "
                          "stability")
                     .Inputs({"logits"})
                     .Attr("axis", AttrType::kInt, int64_t{-1})
                     .Shape(SoftmaxShape())
                     .Grad([](const GradContext& c) {
                       const Tensor& y = c.outputs[0];
                       const Tensor& g = c.output_grads[0];
                       const int64_t axis = c.attr<int64_t>("axis");
                       return std::vector<Tensor>{g -
                                                  ops::Exp(y) * ops::ReduceSum(g, {axis}, true)};
                     })
                     .Lower(SoftmaxLowering(true))
                     .Kernel(SoftmaxKernel(true)));

absl::Status RequireLogits(const TensorType& logits) {
  KILN_RETURN_IF_ERROR(RequireFloat(logits, "logits"));
  if (logits.shape.rank() == 2) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("logits must have rank 2 [n,c], got ", logits.ToString()));
}

// The per-example loss gradient g [n] as a column [n,1] that broadcasts over the classes.
Tensor GradColumn(const GradContext& c) {
  return ops::Reshape(c.output_grads[0], Shape({c.inputs[0].shape()[0], 1}));
}

KILN_REGISTER_OP(
    OpDef("SparseSoftmaxCrossEntropy")
        .Doc("per-example -log softmax(logits [n,c])[label] for integer labels [n] in [0, c); a "
             "label "
             "out of range is a run-time error")
        .Inputs({"logits", "labels"})
        .Shape([](const InferContext& c) -> TypesOr {
          const TensorType& logits = c.inputs[0];
          const TensorType& labels = c.inputs[1];
          KILN_RETURN_IF_ERROR(RequireLogits(logits));
          if (!IsInteger(labels.dtype)) {
            return InvalidArgument(
                absl::StrCat("labels must be an integer type, got ", labels.ToString()));
          }
          if (labels.shape.rank() != 1 || labels.shape[0] != logits.shape[0]) {
            return InvalidArgument(absl::StrCat("labels ", labels.ToString(),
                                                " must have one entry per row of logits ",
                                                logits.ToString()));
          }
          return std::vector<TensorType>{{logits.dtype, Shape({logits.shape[0]})}};
        })
        .Grad([](const GradContext& c) {
          const Tensor& logits = c.inputs[0];
          Tensor one_hot = ops::OneHot(c.inputs[1], logits.shape()[1], logits.dtype());
          return std::vector<Tensor>{(ops::Softmax(logits, 1) - one_hot) * GradColumn(c), Tensor()};
        })
        .Lower([](LoweringContext& c) {
          // lse - logits[i, label]. A label out of range is reported through the runtime; its loss
          // is NaN (as TensorFlow on GPUs), and the read is clamped.
          const TensorType& out = c.node().outputs[0];
          const int64_t rows = c.input_type(0).shape[0], classes = c.input_type(0).shape[1];
          if (classes == 0) {
            c.SetOutput(0, c.Fill(NAN, out));
            return absl::OkStatus();
          }
          IrValue logits = c.input(0);
          c.CheckIndices(c.input(1), classes, "label");
          IrValue lse = c.Reshape(LowerLogSumExp(c, logits, 1), Shape({rows}));
          c.SetOutput(
              0, c.Elementwise({lse, c.input(1)}, out,
                               [logits, classes](ScalarBuilder& b, const std::vector<IrValue>& v) {
                                 IrValue label = b.ToIndex(v[1]);
                                 IrValue negative =
                                     b.Apply(ScalarOp::kLess, label, b.IndexConstant(0));
                                 IrValue valid = b.Apply(
                                     ScalarOp::kAnd, b.Apply(ScalarOp::kNot, negative),
                                     b.Apply(ScalarOp::kLess, label, b.IndexConstant(classes)));
                                 IrValue picked = b.Extract(
                                     logits, {b.Index(0), b.ClampIndex(label, 0, classes - 1)});
                                 return b.Select(valid, b.Apply(ScalarOp::kSub, v[0], picked),
                                                 b.ConstantLike(NAN, v[0]));
                               }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& logits = c.in(0);
          const Literal& labels = c.in(1);
          const int64_t classes = logits.shape[1];
          for (int64_t i = 0; i < labels.size(); ++i) {
            const int64_t label = static_cast<int64_t>(labels.values[i]);
            if (label < 0 || label >= classes) {
              return InvalidArgument(absl::StrCat("label ", label, " at index ", i,
                                                  " is out of range [0, ", classes, ")"));
            }
            const double* row = logits.values.data() + i * classes;
            c.out().values[i] = LogSumExp(row, 1, classes) - row[label];
          }
          return absl::OkStatus();
        }));

// With labels l: loss = sum_j l_j * (lse - x_j), so d/dx = softmax * sum_j l_j - l, which is the
// familiar softmax - l when each row of l sums to 1; the general form keeps the rule exact.
KILN_REGISTER_OP(OpDef("SoftmaxCrossEntropy")
                     .Doc("per-example -sum(labels * log softmax(logits)) for logits and label "
                          "distributions [n,c]")
                     .Inputs({"logits", "labels"})
                     .Shape([](const InferContext& c) -> TypesOr {
                       const TensorType& logits = c.inputs[0];
                       const TensorType& labels = c.inputs[1];
                       KILN_RETURN_IF_ERROR(RequireLogits(logits));
                       KILN_RETURN_IF_ERROR(RequireSameDType(logits, labels));
                       if (labels.shape != logits.shape) {
                         return InvalidArgument(absl::StrCat("labels ", labels.ToString(),
                                                             " must have the shape of logits ",
                                                             logits.ToString()));
                       }
                       return std::vector<TensorType>{{logits.dtype, Shape({logits.shape[0]})}};
                     })
                     .Grad([](const GradContext& c) {
                       const Tensor& logits = c.inputs[0];
                       const Tensor& labels = c.inputs[1];
                       const Tensor g = GradColumn(c);
                       Tensor mass = ops::ReduceSum(labels, {1}, true);
                       return std::vector<Tensor>{(ops::Softmax(logits, 1) * mass - labels) * g,
                                                  -ops::LogSoftmax(logits, 1) * g};
                     })
                     .Lower([](LoweringContext& c) {
                       // sum_j labels_j * (lse - x_j) per row.
                       const TensorType& logits = c.input_type(0);
                       IrValue lse = LowerLogSumExp(c, c.input(0), 1);
                       auto term = [](ScalarBuilder& b, const std::vector<IrValue>& v) {
                         return b.Apply(ScalarOp::kMul, v[0], b.Apply(ScalarOp::kSub, v[2], v[1]));
                       };
                       IrValue terms = c.Elementwise({c.input(1), c.input(0), lse}, logits, term);
                       c.SetOutput(0, c.Reduce(terms, {1}, ReduceKind::kSum, c.node().outputs[0]));
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       const Literal& logits = c.in(0);
                       const Literal& labels = c.in(1);
                       const int64_t n = logits.shape[0];
                       const int64_t classes = logits.shape[1];
                       for (int64_t i = 0; i < n; ++i) {
                         const double* row = logits.values.data() + i * classes;
                         const double lse = LogSumExp(row, 1, classes);
                         double loss = 0;
                         for (int64_t j = 0; j < classes; ++j) {
                           loss += labels.values[i * classes + j] * (lse - row[j]);
                         }
                         c.out().values[i] = loss;
                       }
                       return absl::OkStatus();
                     }));

}  // namespace

namespace ops {

Tensor Softmax(Tensor logits, int64_t axis, SourceLoc loc) {
  return ops_internal::AddOp1("Softmax", {logits}, {{"axis", axis}}, loc);
}

Tensor LogSoftmax(Tensor logits, int64_t axis, SourceLoc loc) {
  return ops_internal::AddOp1("LogSoftmax", {logits}, {{"axis", axis}}, loc);
}

Tensor SparseSoftmaxCrossEntropy(Tensor logits, Tensor labels, SourceLoc loc) {
  return ops_internal::AddOp1("SparseSoftmaxCrossEntropy", {logits, labels}, {}, loc);
}

Tensor SoftmaxCrossEntropy(Tensor logits, Tensor labels, SourceLoc loc) {
  return ops_internal::AddOp1("SoftmaxCrossEntropy", {logits, labels}, {}, loc);
}

}  // namespace ops
KILN_OP_FAMILY(Softmax);

}  // namespace kiln
