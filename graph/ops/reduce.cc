// Reductions over axes (Sum, Mean, Max, Min, Prod) and ArgMax.
#include <algorithm>
#include <cmath>
#include <limits>

#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "graph/status_macros.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions

// The normalized, sorted axes a reduction reduces (all when the attribute is empty).
absl::StatusOr<std::vector<int64_t>> ReducedAxes(const std::vector<int64_t>& axes, int rank) {
  std::vector<int64_t> result;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) result.push_back(i);
    return result;
  }
  for (int64_t a : axes) {
    KILN_ASSIGN_OR_RETURN(const int64_t n, NormalizeAxis(a, rank));
    if (std::find(result.begin(), result.end(), n) != result.end()) {
      return InvalidArgument(absl::StrCat("axis ", a, " is listed twice"));
    }
    result.push_back(n);
  }
  std::sort(result.begin(), result.end());
  return result;
}

// Reduces, divides by the count for a mean, and restores kept dims as 1s.
LowerFn ReductionLowering(ReduceKind kind, bool mean) {
  return [=](LoweringContext& c) {
    const Node& node = c.node();
    const TensorType in = c.input_type(0);
    const std::vector<int64_t> axes =
        *ReducedAxes(node.attr<std::vector<int64_t>>("axes"), in.shape.rank());
    std::vector<int64_t> kept;
    for (int d = 0; d < in.shape.rank(); ++d) {
      if (!std::binary_search(axes.begin(), axes.end(), d)) kept.push_back(in.shape[d]);
    }
    const TensorType reduced{node.outputs[0].dtype, Shape(kept)};
    IrValue r = c.Reduce(c.input(0), axes, kind, reduced);
    if (mean) {
      const double count = static_cast<double>(in.shape.NumElements()) /
                           std::max<int64_t>(1, reduced.shape.NumElements());
      r = c.Elementwise({r}, reduced, [count](ScalarBuilder& b, const std::vector<IrValue>& x) {
        return b.Apply(ScalarOp::kDiv, x[0], b.ConstantLike(count, x[0]));
      });
    }
    c.SetOutput(0, c.Reshape(r, node.outputs[0].shape));
    return absl::OkStatus();
  };
}

// The reduced shape with reduced dims kept as 1 (the shape gradients broadcast from).
Shape KeepDimsShape(const Shape& in, const std::vector<int64_t>& axes) {
  std::vector<int64_t> dims = in.dims();
  for (int64_t a : axes) dims[a] = 1;
  return Shape(dims);
}

ShapeFn ReductionShape() {
  return [](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
    const Shape& in = c.inputs[0].shape;
    KILN_ASSIGN_OR_RETURN(const std::vector<int64_t> axes,
                          ReducedAxes(c.attr<std::vector<int64_t>>("axes"), in.rank()));
    if (c.attr<bool>("keep_dims"))
      return std::vector<TensorType>{{c.inputs[0].dtype, KeepDimsShape(in, axes)}};
    std::vector<int64_t> dims;
    for (int i = 0; i < in.rank(); ++i) {
      if (!std::binary_search(axes.begin(), axes.end(), i)) dims.push_back(in[i]);
    }
    return std::vector<TensorType>{{c.inputs[0].dtype, Shape(dims)}};
  };
}

// For each input element, the flat index of the output element it reduces into.
std::vector<int64_t> ReductionMap(const Shape& in, const std::vector<int64_t>& axes) {
  Shape kept = KeepDimsShape(in, axes);
  std::vector<int64_t> kept_strides = kept.Strides();
  std::vector<int64_t> map(in.NumElements());
  for (int64_t e = 0; e < in.NumElements(); ++e) {
    std::vector<int64_t> index = Unflatten(e, in);
    int64_t o = 0;
    for (int d = 0; d < in.rank(); ++d) o += (kept[d] == 1 ? 0 : index[d]) * kept_strides[d];
    map[e] = o;
  }
  return map;
}

KernelFn ReductionKernel(double init, std::function<double(double, double)> combine, bool mean) {
  return [=](KernelContext& c) {
    const Literal& x = c.in(0);
    std::vector<int64_t> axes = *ReducedAxes(c.attr<std::vector<int64_t>>("axes"), x.shape.rank());
    std::vector<int64_t> map = ReductionMap(x.shape, axes);
    Literal& y = c.out();
    std::fill(y.values.begin(), y.values.end(), init);
    for (int64_t e = 0; e < x.size(); ++e)
      y.values[map[e]] = combine(y.values[map[e]], x.values[e]);
    if (mean && y.size() > 0) {
      const double count = static_cast<double>(x.size()) / y.size();
      for (double& v : y.values) v /= count;
    }
    return absl::OkStatus();
  };
}

// The upstream gradient reshaped to keep-dims form and broadcast over x.
Tensor BroadcastGrad(const GradContext& c) {
  const Shape& in = c.inputs[0].shape();
  std::vector<int64_t> axes = *ReducedAxes(c.attr<std::vector<int64_t>>("axes"), in.rank());
  return ops::BroadcastTo(ops::Reshape(c.output_grads[0], KeepDimsShape(in, axes)), in);
}

// Max/Min: the gradient goes to the elements equal to the result, split evenly among ties.
std::vector<Tensor> ExtremumGrad(const GradContext& c) {
  const Tensor& x = c.inputs[0];
  std::vector<int64_t> axes = *ReducedAxes(c.attr<std::vector<int64_t>>("axes"), x.rank());
  Tensor y =
      ops::BroadcastTo(ops::Reshape(c.outputs[0], KeepDimsShape(x.shape(), axes)), x.shape());
  Tensor mask = ops::Cast(ops::Equal(x, y), x.dtype());
  Tensor ties = ops::ReduceSum(mask, axes, true);
  return {BroadcastGrad(c) * mask / ties};
}

OpDef Reduction(const std::string& name, const std::string& doc) {
  return OpDef(name)
      .Doc(doc)
      .Inputs({"x"})
      .Attr("axes", AttrType::kInts, std::vector<int64_t>{})
      .Attr("keep_dims", AttrType::kBool, false)
      .Shape(ReductionShape());
}

KILN_REGISTER_OP(Reduction("ReduceSum", "sum over axes")
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{BroadcastGrad(c)};
                     })
                     .Lower(ReductionLowering(ReduceKind::kSum, false))
                     .Kernel(ReductionKernel(
                         0.0, [](double a, double b) { return a + b; }, false)));

KILN_REGISTER_OP(Reduction("ReduceMean", "mean over axes")
                     .Grad([](const GradContext& c) {
                       const double count =
                           static_cast<double>(c.inputs[0].shape().NumElements()) /
                           std::max<int64_t>(1, c.outputs[0].shape().NumElements());
                       return std::vector<Tensor>{BroadcastGrad(c) / count};
                     })
                     .Lower(ReductionLowering(ReduceKind::kSum, true))
                     .Kernel(ReductionKernel(
                         0.0, [](double a, double b) { return a + b; }, true)));

KILN_REGISTER_OP(Reduction("ReduceMax", "maximum over axes; ties share the gradient")
                     .Grad(ExtremumGrad)
                     .Lower(ReductionLowering(ReduceKind::kMax, false))
                     .Kernel(ReductionKernel(
                         -std::numeric_limits<double>::infinity(),
                         [](double a, double b) { return std::max(a, b); }, false)));

KILN_REGISTER_OP(Reduction("ReduceMin", "minimum over axes; ties share the gradient")
                     .Grad(ExtremumGrad)
                     .Lower(ReductionLowering(ReduceKind::kMin, false))
                     .Kernel(ReductionKernel(
                         std::numeric_limits<double>::infinity(),
                         [](double a, double b) { return std::min(a, b); }, false)));

KILN_REGISTER_OP(Reduction("ReduceProd", "product over axes; the gradient assumes no zeros")
                     .Grad([](const GradContext& c) {
                       const Tensor& x = c.inputs[0];
                       std::vector<int64_t> axes =
                           *ReducedAxes(c.attr<std::vector<int64_t>>("axes"), x.rank());
                       Tensor y = ops::BroadcastTo(
                           ops::Reshape(c.outputs[0], KeepDimsShape(x.shape(), axes)), x.shape());
                       return std::vector<Tensor>{BroadcastGrad(c) * y / x};
                     })
                     .Lower(ReductionLowering(ReduceKind::kProd, false))
                     .Kernel(ReductionKernel(
                         1.0, [](double a, double b) { return a * b; }, false)));

KILN_REGISTER_OP(
    OpDef("ArgMax")
        .Doc("index of the largest element along an axis (first on ties)")
        .Inputs({"x"})
        .Attr("axis", AttrType::kInt)
        .Attr("output_dtype", AttrType::kDType, DType::kI64)
        .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
          const Shape& in = c.inputs[0].shape;
          KILN_ASSIGN_OR_RETURN(const int64_t axis,
                                NormalizeAxis(c.attr<int64_t>("axis"), in.rank()));
          DType out = c.attr<DType>("output_dtype");
          if (!IsInteger(out))
            return InvalidArgument(
                absl::StrCat("output_dtype must be an integer type, got ", DTypeName(out)));
          std::vector<int64_t> dims = in.dims();
          dims.erase(dims.begin() + axis);
          return std::vector<TensorType>{{out, Shape(dims)}};
        })
        .NotDifferentiable("integer output")
        .Lower([](LoweringContext& c) {
          // The maximum, then the smallest index along the axis where x equals it.
          const TensorType& in = c.input_type(0);
          const TensorType& out = c.node().outputs[0];
          const int64_t axis = *NormalizeAxis(c.node().attr<int64_t>("axis"), in.shape.rank());
          const int64_t n = in.shape[axis];
          if (n == 0) {
            c.SetOutput(0, c.Fill(0, out));
            return absl::OkStatus();
          }
          const int r = out.shape.rank();  // loop r runs along the axis
          IrValue max = c.Reduce(c.input(0), {axis}, ReduceKind::kMax, {in.dtype, out.shape});
          std::vector<AffineIndex> x_index;
          for (int d = 0; d < in.shape.rank(); ++d) {
            x_index.push_back(AffineIndex::Loop(d < axis ? d : d == axis ? r : d - 1));
          }
          const DType dtype = out.dtype;
          c.SetOutput(0, c.Generic({{c.input(0), x_index}, {max, AffineIndex::Loops(0, r)}}, {n},
                                   ReduceKind::kMin, out,
                                   [r, n, dtype](ScalarBuilder& b, const std::vector<IrValue>& x) {
                                     return b.Select(b.Apply(ScalarOp::kEqual, x[0], x[1]),
                                                     b.Convert(b.Index(r), dtype),
                                                     b.IntConstant(n, dtype));
                                   }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& x = c.in(0);
          const int64_t axis = *NormalizeAxis(c.attr<int64_t>("axis"), x.shape.rank());
          const int64_t n = x.shape[axis];
          const int64_t inner = x.shape.Strides()[axis];
          const int64_t outer = x.size() / std::max<int64_t>(1, n * inner);
          for (int64_t o = 0; o < outer; ++o) {
            for (int64_t i = 0; i < inner; ++i) {
              int64_t best = 0;
              for (int64_t k = 1; k < n; ++k) {
                if (x.values[(o * n + k) * inner + i] > x.values[(o * n + best) * inner + i])
                  best = k;
              }
              c.out().values[o * inner + i] = static_cast<double>(best);
            }
          }
          return absl::OkStatus();
        }));

}  // namespace

namespace ops {

#define KILN_REDUCTION_BUILDER(Name)                                                               \
  Tensor Name(Tensor x, std::vector<int64_t> axes, bool keep_dims, SourceLoc loc) {                \
    return ops_internal::AddOp1(#Name, {x}, {{"axes", std::move(axes)}, {"keep_dims", keep_dims}}, \
                                loc);                                                              \
  }
KILN_REDUCTION_BUILDER(ReduceSum)
KILN_REDUCTION_BUILDER(ReduceMean)
KILN_REDUCTION_BUILDER(ReduceMax)
KILN_REDUCTION_BUILDER(ReduceMin)
KILN_REDUCTION_BUILDER(ReduceProd)
#undef KILN_REDUCTION_BUILDER

Tensor ArgMax(Tensor x, int64_t axis, DType output_dtype, SourceLoc loc) {
  return ops_internal::AddOp1("ArgMax", {x}, {{"axis", axis}, {"output_dtype", output_dtype}}, loc);
}

}  // namespace ops
KILN_OP_FAMILY(Reduce);

}  // namespace kiln
