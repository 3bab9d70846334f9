#include "graph/ops/op_util.h"

#include "absl/strings/str_join.h"
#include "graph/status_macros.h"

namespace kiln {
namespace ops_internal {

std::vector<Tensor> AddOp(const std::string& op, const std::vector<Tensor>& inputs, AttrMap attrs,
                          SourceLoc loc, int num_outputs) {
  Graph* g = nullptr;
  for (const Tensor& t : inputs) {
    if (t.graph() != nullptr) {
      g = t.graph();
      break;
    }
  }
  if (g == nullptr) return std::vector<Tensor>(num_outputs);
  int id = g->AddNode(op, inputs, std::move(attrs), loc);
  std::vector<Tensor> outputs;
  for (int i = 0; i < num_outputs; ++i) outputs.push_back(g->Output(id, i));
  return outputs;
}

Tensor AddOp1(const std::string& op, const std::vector<Tensor>& inputs, AttrMap attrs,
              SourceLoc loc) {
  return AddOp(op, inputs, std::move(attrs), loc, 1)[0];
}

Tensor AddSourceOp(Graph& g, const std::string& op, AttrMap attrs, SourceLoc loc,
                   const std::string& name) {
  return g.Output(g.AddNode(op, {}, std::move(attrs), loc, name));
}

absl::Status InvalidArgument(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

std::string IntsToString(const std::vector<int64_t>& v) {
  return absl::StrCat("[", absl::StrJoin(v, ","), "]");
}

absl::Status RequireFloat(const TensorType& t, const std::string& what) {
  if (IsFloat(t.dtype)) return absl::OkStatus();
  return InvalidArgument(absl::StrCat(what, " must be floating point, got ", t.ToString()));
}

absl::Status RequireSameDType(const TensorType& a, const TensorType& b) {
  if (a.dtype == b.dtype) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("dtypes differ: ", a.ToString(), " vs ", b.ToString()));
}

absl::Status CheckFloatOperands(const TensorType& a, const TensorType& b, const std::string& a_name,
                                const std::string& b_name) {
  KILN_RETURN_IF_ERROR(RequireFloat(a, a_name));
  KILN_RETURN_IF_ERROR(RequireFloat(b, b_name));
  return RequireSameDType(a, b);
}

absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank) {
    return InvalidArgument(absl::StrCat("axis ", axis, " is out of range for rank ", rank));
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> BroadcastIndexMap(const Shape& in, const Shape& out) {
  const int64_t n = out.NumElements();
  std::vector<int64_t> map(n);
  const int offset = out.rank() - in.rank();
  std::vector<int64_t> in_strides = in.Strides();
  // Stride 0 along broadcast dimensions.
  std::vector<int64_t> strides(out.rank(), 0);
  for (int i = 0; i < in.rank(); ++i) strides[offset + i] = in[i] == 1 ? 0 : in_strides[i];
  std::vector<int64_t> index(out.rank(), 0);
  int64_t pos = 0;
  for (int64_t e = 0; e < n; ++e) {
    map[e] = pos;
    for (int d = out.rank() - 1; d >= 0; --d) {
      if (++index[d] < out[d]) {
        pos += strides[d];
        break;
      }
      pos -= strides[d] * (out[d] - 1);
      index[d] = 0;
    }
  }
  return map;
}

ShapeFn SameAsInput(int i) {
  return [i](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
    return std::vector<TensorType>{c.inputs[i]};
  };
}

ShapeFn FloatUnary() {
  return [](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
    if (!IsFloat(c.inputs[0].dtype)) {
      return InvalidArgument(
          absl::StrCat("expects a floating-point input, got ", c.inputs[0].ToString()));
    }
    return std::vector<TensorType>{c.inputs[0]};
  };
}

ShapeFn Broadcasting(int num_inputs, std::optional<DType> result, bool require_float) {
  return [=](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
    // Select's condition (input 0 of 3) is bool; the operands after it share a dtype.
    const int first = num_inputs == 3 ? 1 : 0;
    DType dtype = c.inputs[first].dtype;
    for (int i = first; i < num_inputs; ++i) {
      if (c.inputs[i].dtype != dtype) {
        return InvalidArgument(absl::StrCat("dtypes differ: ", c.inputs[first].ToString(), " vs ",
                                            c.inputs[i].ToString()));
      }
    }
    if (require_float && !IsFloat(dtype)) {
      return InvalidArgument(absl::StrCat("expects floating-point inputs, got ", DTypeName(dtype)));
    }
    Shape shape = c.inputs[0].shape;
    for (int i = 1; i < num_inputs; ++i) {
      KILN_ASSIGN_OR_RETURN(shape, BroadcastShapes(shape, c.inputs[i].shape));
    }
    return std::vector<TensorType>{{result.value_or(dtype), shape}};
  };
}

KernelFn UnaryKernel(std::function<double(double)> f) {
  return [f](KernelContext& c) {
    const Literal& x = c.in(0);
    Literal& y = c.out();
    for (int64_t i = 0; i < x.size(); ++i) y.values[i] = f(x.values[i]);
    return absl::OkStatus();
  };
}

KernelFn BinaryKernel(std::function<double(double, double)> f) {
  return [f](KernelContext& c) {
    Literal& y = c.out();
    std::vector<int64_t> ia = BroadcastIndexMap(c.in(0).shape, y.shape);
    std::vector<int64_t> ib = BroadcastIndexMap(c.in(1).shape, y.shape);
    for (int64_t i = 0; i < y.size(); ++i) {
      y.values[i] = f(c.in(0).values[ia[i]], c.in(1).values[ib[i]]);
    }
    return absl::OkStatus();
  };
}

LowerFn UnaryLowering(ScalarOp op) {
  return ElementwiseLowering(
      [op](ScalarBuilder& b, const std::vector<IrValue>& x) { return b.Apply(op, x[0]); });
}

LowerFn BinaryLowering(ScalarOp op) {
  return ElementwiseLowering(
      [op](ScalarBuilder& b, const std::vector<IrValue>& x) { return b.Apply(op, x[0], x[1]); });
}

IrValue Product(ScalarBuilder& b, const std::vector<IrValue>& x) {
  return b.Apply(ScalarOp::kMul, x[0], x[1]);
}

std::vector<int64_t> Unflatten(int64_t flat, const Shape& shape) {
  std::vector<int64_t> index(shape.rank());
  for (int d = shape.rank() - 1; d >= 0; --d) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

}  // namespace ops_internal
}  // namespace kiln
