// Sources (Const, Placeholder, Variable), identities, casts, Reshape and BroadcastTo.
#include <cmath>

#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "graph/random.h"
#include "graph/status_macros.h"

namespace kiln {

uint64_t RandomBits(uint64_t seed, uint64_t counter, uint64_t index) {
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(seed) ^ counter) ^ index);
}

double UniformAt(uint64_t seed, uint64_t counter, uint64_t index) {
  return static_cast<double>(RandomBits(seed, counter, index) >> 11) * 0x1.0p-53;
}

double NormalAt(uint64_t seed, uint64_t counter, uint64_t index) {
  // 1 - u keeps the logarithm's argument in (0, 1].
  double u1 = 1.0 - UniformAt(seed, counter, 2 * index);
  double u2 = UniformAt(seed, counter, 2 * index + 1);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

namespace {

// What InitialValue would refuse, found without computing the value (which may be large).
absl::Status CheckInitializer(const Node& variable) {
  const std::string& kind = variable.attr<std::string>("init");
  if (kind == "value") {
    const TensorData& v = variable.attr<TensorData>("init_value");
    const Shape& shape = variable.attr<Shape>("shape");
    if (v.shape() != shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "Variable '", variable.name, "': initial value ", v.type().ToString(), " does not match ",
          TensorType{variable.attr<DType>("dtype"), shape}.ToString()));
    }
    if (v.size() != shape.NumElements()) {
      return absl::InvalidArgumentError(
          absl::StrCat("Variable '", variable.name, "': initial value ", v.type().ToString(),
                       " has ", v.size(), " values, expected ", shape.NumElements()));
    }
  } else if (kind != "zeros" && kind != "constant" && kind != "uniform" && kind != "normal") {
    return absl::InvalidArgumentError(
        absl::StrCat("Variable '", variable.name, "': unknown initializer '", kind,
                     "' (expected zeros, constant, uniform, normal, value)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TensorData> InitialValue(const Node& variable) {
  KILN_RETURN_IF_ERROR(CheckInitializer(variable));
  const DType dtype = variable.attr<DType>("dtype");
  const Shape& shape = variable.attr<Shape>("shape");
  const std::string& kind = variable.attr<std::string>("init");
  const double a = variable.attr<double>("init_a");
  const double b = variable.attr<double>("init_b");
  const uint64_t seed = static_cast<uint64_t>(variable.attr<int64_t>("seed"));
  if (kind == "zeros") return TensorData::Zeros(dtype, shape);
  if (kind == "constant") return TensorData::FromFunction(dtype, shape, [a](int64_t) { return a; });
  if (kind == "uniform") {
    return TensorData::FromFunction(dtype, shape,
                                    [&](int64_t i) { return a + (b - a) * UniformAt(seed, 0, i); });
  }
  if (kind == "normal") {
    return TensorData::FromFunction(dtype, shape,
                                    [&](int64_t i) { return a + b * NormalAt(seed, 0, i); });
  }
  return variable.attr<TensorData>("init_value").CastTo(dtype);  // kind "value"
}

namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions

ShapeFn FromAttrs() {
  return [](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
    for (int64_t d : c.attr<Shape>("shape").dims()) {
      if (d < 0)
        return InvalidArgument(
            absl::StrCat("negative dimension in shape ", c.attr<Shape>("shape").ToString()));
    }
    return std::vector<TensorType>{{c.attr<DType>("dtype"), c.attr<Shape>("shape")}};
  };
}

KILN_REGISTER_OP(OpDef("Const")
                     .Doc("a constant tensor")
                     .Attr("value", AttrType::kTensor)
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       const TensorData& v = c.attr<TensorData>("value");
                       if (v.size() != v.shape().NumElements()) {
                         return InvalidArgument(absl::StrCat(
                             "value has ", v.size(), " elements but shape ", v.shape().ToString()));
                       }
                       return std::vector<TensorType>{v.type()};
                     })
                     .NotDifferentiable("a constant")
                     .Lower([](LoweringContext& c) {
                       c.SetOutput(0, c.Constant(c.node().attr<TensorData>("value")));
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       c.out() = c.attr<TensorData>("value").ToLiteral();
                       return absl::OkStatus();
                     }));

KILN_REGISTER_OP(
    OpDef("Placeholder")
        .Doc("a named graph input, fed at run time")
        .Attr("dtype", AttrType::kDType)
        .Attr("shape", AttrType::kShape)
        .Shape(FromAttrs())
        .NotDifferentiable(
            "a graph input (autodiff differentiates with respect to it, never through it)")
        .Argument());

KILN_REGISTER_OP(
    OpDef("Variable")
        .Doc("persistent state, initialized once and updated by training")
        .Attr("dtype", AttrType::kDType)
        .Attr("shape", AttrType::kShape)
        .Attr("init", AttrType::kString, std::string("zeros"))
        .Attr("init_a", AttrType::kFloat, 0.0)
        .Attr("init_b", AttrType::kFloat, 0.0)
        .Attr("seed", AttrType::kInt, int64_t{0})
        .Attr("init_value", AttrType::kTensor, TensorData())
        .Shape(FromAttrs())
        .NotDifferentiable("a leaf (autodiff differentiates with respect to it, never through it)")
        .Argument()
        .Stateful(InitialValue));

// The input's values as they are (the interpreter rounds them when the dtype changes).
absl::Status CopyValues(KernelContext& c) {
  c.out().values = c.in(0).values;
  return absl::OkStatus();
}

absl::Status ForwardInput(LoweringContext& c) {
  c.SetOutput(0, c.input(0));
  return absl::OkStatus();
}

KILN_REGISTER_OP(OpDef("Identity")
                     .Doc("x")
                     .Inputs({"x"})
                     .Shape(SameAsInput())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0]};
                     })
                     .Lower(ForwardInput)
                     .Kernel(CopyValues));

KILN_REGISTER_OP(OpDef("StopGradient")
                     .Doc("x, through which no gradient flows")
                     .Inputs({"x"})
                     .Shape(SameAsInput())
                     .NotDifferentiable("blocks gradients by design; autodiff stops here")
                     .Lower(ForwardInput)
                     .Kernel(CopyValues));

KILN_REGISTER_OP(OpDef("Cast")
                     .Doc("x converted to another dtype")
                     .Inputs({"x"})
                     .Attr("dtype", AttrType::kDType)
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       return std::vector<TensorType>{{c.attr<DType>("dtype"), c.inputs[0].shape}};
                     })
                     .Grad([](const GradContext& c) {
                       // Only float-to-float casts carry a gradient.
                       if (!IsFloat(c.inputs[0].dtype()) || !IsFloat(c.outputs[0].dtype())) {
                         return std::vector<Tensor>{Tensor()};
                       }
                       return std::vector<Tensor>{
                           ops::Cast(c.output_grads[0], c.inputs[0].dtype())};
                     })
                     .Lower([](LoweringContext& c) {
                       const DType to = c.node().attr<DType>("dtype");
                       c.SetOutput(
                           0, c.Elementwise({c.input(0)}, c.node().outputs[0],
                                            [to](ScalarBuilder& b, const std::vector<IrValue>& x) {
                                              return b.Convert(x[0], to);
                                            }));
                       return absl::OkStatus();
                     })
                     .Kernel(CopyValues));

KILN_REGISTER_OP(
    OpDef("Reshape")
        .Doc("x with a new shape of the same size (one dim may be -1)")
        .Inputs({"x"})
        .Attr("shape", AttrType::kShape)
        .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
          std::vector<int64_t> dims = c.attr<Shape>("shape").dims();
          const int64_t n = c.inputs[0].shape.NumElements();
          int inferred = -1;
          int64_t known = 1;
          for (int i = 0; i < static_cast<int>(dims.size()); ++i) {
            if (dims[i] == -1 && inferred < 0) {
              inferred = i;
            } else if (dims[i] < 0) {
              return InvalidArgument(absl::StrCat("bad target shape ", Shape(dims).ToString()));
            } else {
              known *= dims[i];
            }
          }
          if (inferred >= 0 && known > 0 && n % known == 0) dims[inferred] = n / known;
          if (Shape(dims).NumElements() != n || (inferred >= 0 && dims[inferred] < 0)) {
            return InvalidArgument(absl::StrCat("cannot reshape ", c.inputs[0].ToString(), " (", n,
                                                " elements) to ",
                                                c.attr<Shape>("shape").ToString()));
          }
          return std::vector<TensorType>{{c.inputs[0].dtype, Shape(dims)}};
        })
        .Grad([](const GradContext& c) {
          return std::vector<Tensor>{ops::Reshape(c.output_grads[0], c.inputs[0].shape())};
        })
        .Lower([](LoweringContext& c) {
          c.SetOutput(0, c.Reshape(c.input(0), c.node().outputs[0].shape));
          return absl::OkStatus();
        })
        .Kernel(CopyValues));

KILN_REGISTER_OP(OpDef("BroadcastTo")
                     .Doc("x broadcast (NumPy rules) to a larger shape")
                     .Inputs({"x"})
                     .Attr("shape", AttrType::kShape)
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       const Shape& target = c.attr<Shape>("shape");
                       absl::StatusOr<Shape> b = BroadcastShapes(c.inputs[0].shape, target);
                       if (!b.ok() || *b != target) {
                         return InvalidArgument(absl::StrCat("cannot broadcast ",
                                                             c.inputs[0].ToString(), " to ",
                                                             target.ToString()));
                       }
                       return std::vector<TensorType>{{c.inputs[0].dtype, target}};
                     })
                     .Grad([](const GradContext& c) {
                       // Autodiff sums the broadcast gradient back to x's shape.
                       return std::vector<Tensor>{c.output_grads[0]};
                     })
                     .Lower(ElementwiseLowering([](ScalarBuilder&, const std::vector<IrValue>& x) {
                       return x[0];
                     }))
                     .Kernel([](KernelContext& c) {
                       std::vector<int64_t> map = BroadcastIndexMap(c.in(0).shape, c.out().shape);
                       for (int64_t i = 0; i < c.out().size(); ++i)
                         c.out().values[i] = c.in(0).values[map[i]];
                       return absl::OkStatus();
                     }));

}  // namespace

namespace ops {

Tensor Const(Graph& g, const Literal& value, const std::string& name, SourceLoc loc) {
  return Const(g, TensorData(value), name, loc);
}

Tensor Const(Graph& g, TensorData value, const std::string& name, SourceLoc loc) {
  return ops_internal::AddSourceOp(g, "Const", {{"value", std::move(value)}}, loc, name);
}

Tensor Scalar(Graph& g, double value, DType dtype, SourceLoc loc) {
  return Const(g, Literal::Scalar(dtype, value), "", loc);
}

Tensor Placeholder(Graph& g, const std::string& name, DType dtype, Shape shape, SourceLoc loc) {
  return ops_internal::AddSourceOp(g, "Placeholder",
                                   {{"dtype", dtype}, {"shape", std::move(shape)}}, loc, name);
}

Tensor Variable(Graph& g, const std::string& name, DType dtype, Shape shape, Initializer init,
                SourceLoc loc) {
  // Stored in the Variable's own dtype: what it becomes anyway, at that dtype's size.
  init.value = init.value.CastTo(dtype);
  AttrMap attrs = {{"dtype", dtype},
                   {"shape", std::move(shape)},
                   {"init", init.kind},
                   {"init_a", init.a},
                   {"init_b", init.b},
                   {"seed", init.seed},
                   {"init_value", std::move(init.value)}};
  Tensor v = ops_internal::AddSourceOp(g, "Variable", std::move(attrs), loc, name);
  if (v.valid()) {
    // Check the initializer now, where the error can still name the user's line.
    if (absl::Status s = CheckInitializer(g.node(v.node())); !s.ok()) {
      g.RecordError(
          absl::InvalidArgumentError(absl::StrCat(s.message(), " (", loc.ToString(), ")")));
      return g.Output(-1);
    }
  }
  return v;
}

Tensor Identity(Tensor x, SourceLoc loc) { return ops_internal::AddOp1("Identity", {x}, {}, loc); }
Tensor StopGradient(Tensor x, SourceLoc loc) {
  return ops_internal::AddOp1("StopGradient", {x}, {}, loc);
}
Tensor Cast(Tensor x, DType dtype, SourceLoc loc) {
  return ops_internal::AddOp1("Cast", {x}, {{"dtype", dtype}}, loc);
}
Tensor Reshape(Tensor x, Shape shape, SourceLoc loc) {
  return ops_internal::AddOp1("Reshape", {x}, {{"shape", std::move(shape)}}, loc);
}
Tensor BroadcastTo(Tensor x, Shape shape, SourceLoc loc) {
  return ops_internal::AddOp1("BroadcastTo", {x}, {{"shape", std::move(shape)}}, loc);
}

Tensor ZerosLike(Tensor x, SourceLoc loc) {
  if (x.graph() == nullptr) return Tensor();
  return BroadcastTo(Scalar(*x.graph(), 0.0, x.dtype(), loc), x.shape(), loc);
}

Tensor OnesLike(Tensor x, SourceLoc loc) {
  if (x.graph() == nullptr) return Tensor();
  return BroadcastTo(Scalar(*x.graph(), 1.0, x.dtype(), loc), x.shape(), loc);
}

}  // namespace ops
KILN_OP_FAMILY(Core);

}  // namespace kiln
