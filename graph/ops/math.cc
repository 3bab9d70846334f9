// Elementwise math: unary functions, broadcasting binary arithmetic, comparisons, logic, Select.
#include <cmath>

#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions
using ops::Scalar;

constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kTwoOverSqrtPi = 1.12837916709551257390;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kGeluTanhCoeff = 0.044715;

// Zeros of x's type and shape, for ops whose derivative is zero almost everywhere.
std::vector<Tensor> ZeroGrad(const GradContext& c) { return {ops::ZerosLike(c.inputs[0])}; }

// ---- Unary ----

KILN_REGISTER_OP(OpDef("Neg")
                     .Doc("-x")
                     .Inputs({"x"})
                     .Shape(SameAsInput())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{-c.output_grads[0]};
                     })
                     .Lower(UnaryLowering(ScalarOp::kNeg))
                     .Kernel(UnaryKernel([](double x) { return -x; })));

KILN_REGISTER_OP(OpDef("Abs")
                     .Doc("|x|")
                     .Inputs({"x"})
                     .Shape(SameAsInput())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0] * ops::Sign(c.inputs[0])};
                     })
                     .Lower(UnaryLowering(ScalarOp::kAbs))
                     .Kernel(UnaryKernel([](double x) { return std::fabs(x); })));

KILN_REGISTER_OP(OpDef("Sign")
                     .Doc("-1, 0 or 1 by the sign of x")
                     .Inputs({"x"})
                     .Shape(SameAsInput())
                     .Grad(ZeroGrad)
                     .Lower(UnaryLowering(ScalarOp::kSign))
                     .Kernel(UnaryKernel([](double x) {
                       return static_cast<double>((x > 0) - (x < 0));
                     })));

KILN_REGISTER_OP(OpDef("Exp")
                     .Doc("e^x")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0] * c.outputs[0]};
                     })
                     .Lower(UnaryLowering(ScalarOp::kExp))
                     .Kernel(UnaryKernel([](double x) { return std::exp(x); })));

KILN_REGISTER_OP(OpDef("Log")
                     .Doc("natural logarithm")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0] / c.inputs[0]};
                     })
                     .Lower(UnaryLowering(ScalarOp::kLog))
                     .Kernel(UnaryKernel([](double x) { return std::log(x); })));

KILN_REGISTER_OP(OpDef("Log1p")
                     .Doc("log(1 + x), accurate near 0")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0] / (c.inputs[0] + 1.0)};
                     })
                     .Lower(UnaryLowering(ScalarOp::kLog1p))
                     .Kernel(UnaryKernel([](double x) { return std::log1p(x); })));

KILN_REGISTER_OP(OpDef("Sqrt")
                     .Doc("square root")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0] / (c.outputs[0] * 2.0)};
                     })
                     .Lower(UnaryLowering(ScalarOp::kSqrt))
                     .Kernel(UnaryKernel([](double x) { return std::sqrt(x); })));

KILN_REGISTER_OP(OpDef("Rsqrt")
                     .Doc("1 / sqrt(x)")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       const Tensor& y = c.outputs[0];
                       return std::vector<Tensor>{c.output_grads[0] * (y * y * y) * -0.5};
                     })
                     .Lower(UnaryLowering(ScalarOp::kRsqrt))
                     .Kernel(UnaryKernel([](double x) { return 1.0 / std::sqrt(x); })));

KILN_REGISTER_OP(OpDef("Square")
                     .Doc("x * x")
                     .Inputs({"x"})
                     .Shape(SameAsInput())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0] * c.inputs[0] * 2.0};
                     })
                     .Lower(ElementwiseLowering([](ScalarBuilder& b,
                                                   const std::vector<IrValue>& x) {
                       return b.Apply(ScalarOp::kMul, x[0], x[0]);
                     }))
                     .Kernel(UnaryKernel([](double x) { return x * x; })));

KILN_REGISTER_OP(OpDef("Reciprocal")
                     .Doc("1 / x")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       const Tensor& y = c.outputs[0];
                       return std::vector<Tensor>{-(c.output_grads[0] * y * y)};
                     })
                     .Lower(ElementwiseLowering([](ScalarBuilder& b,
                                                   const std::vector<IrValue>& x) {
                       return b.Apply(ScalarOp::kDiv, b.ConstantLike(1, x[0]), x[0]);
                     }))
                     .Kernel(UnaryKernel([](double x) { return 1.0 / x; })));

KILN_REGISTER_OP(OpDef("Tanh")
                     .Doc("hyperbolic tangent")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       const Tensor& y = c.outputs[0];
                       return std::vector<Tensor>{c.output_grads[0] * (1.0 - y * y)};
                     })
                     .Lower(UnaryLowering(ScalarOp::kTanh))
                     .Kernel(UnaryKernel([](double x) { return std::tanh(x); })));

KILN_REGISTER_OP(
    OpDef("Sigmoid")
        .Doc("1 / (1 + e^-x)")
        .Inputs({"x"})
        .Shape(FloatUnary())
        .Grad([](const GradContext& c) {
          const Tensor& y = c.outputs[0];
          return std::vector<Tensor>{c.output_grads[0] * y * (1.0 - y)};
        })
        .Lower(ElementwiseLowering([](ScalarBuilder& b, const std::vector<IrValue>& x) {
          // 1 / (1 + e^-x): e^-x overflows to inf for very negative x, giving the correct 0.
          IrValue one = b.ConstantLike(1, x[0]);
          return b.Apply(
              ScalarOp::kDiv, one,
              b.Apply(ScalarOp::kAdd, one, b.Apply(ScalarOp::kExp, b.Apply(ScalarOp::kNeg, x[0]))));
        }))
        .Kernel(UnaryKernel([](double x) {
          // Split by sign so neither branch overflows.
          return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
        })));

KILN_REGISTER_OP(OpDef("Relu")
                     .Doc("max(x, 0)")
                     .Inputs({"x"})
                     .Shape(SameAsInput())
                     .Grad([](const GradContext& c) {
                       // From the output (y > 0 exactly where x > 0): the input then has no reader
                       // but the ReLU, so a bias add before it can be fused into a library call's
                       // epilogue (passes/graph_lowering.cc).
                       const Tensor& y = c.outputs[0];
                       const Tensor& g = c.output_grads[0];
                       return std::vector<Tensor>{
                           ops::Select(ops::Greater(y, ops::ZerosLike(y)), g, ops::ZerosLike(g))};
                     })
                     .Lower(ElementwiseLowering([](ScalarBuilder& b,
                                                   const std::vector<IrValue>& x) {
                       IrValue zero = b.ConstantLike(0, x[0]);
                       return b.Select(b.Apply(ScalarOp::kGreater, x[0], zero), x[0], zero);
                     }))
                     .Kernel(UnaryKernel([](double x) { return x > 0 ? x : 0.0; })));

KILN_REGISTER_OP(
    OpDef("Gelu")
        .Doc("x * Phi(x) (erf form), or its tanh approximation")
        .Inputs({"x"})
        .Attr("approximate_tanh", AttrType::kBool, false)
        .Shape(FloatUnary())
        .Grad([](const GradContext& c) {
          const Tensor& x = c.inputs[0];
          const Tensor& g = c.output_grads[0];
          if (c.attr<bool>("approximate_tanh")) {
            Tensor t = ops::Tanh((x + x * x * x * kGeluTanhCoeff) * kSqrt2OverPi);
            Tensor du = (1.0 + x * x * (3 * kGeluTanhCoeff)) * kSqrt2OverPi;
            return std::vector<Tensor>{g * ((1.0 + t) * 0.5 + x * 0.5 * (1.0 - t * t) * du)};
          }
          Tensor cdf = (1.0 + ops::Erf(x * (1 / kSqrt2))) * 0.5;
          Tensor pdf = ops::Exp(x * x * -0.5) * (kTwoOverSqrtPi / (2 * kSqrt2));
          return std::vector<Tensor>{g * (cdf + x * pdf)};
        })
        .Lower([](LoweringContext& c) {
          const bool approx = c.node().attr<bool>("approximate_tanh");
          c.SetOutput(
              0,
              c.Elementwise(
                  {c.input(0)}, c.node().outputs[0],
                  [approx](ScalarBuilder& b, const std::vector<IrValue>& x) {
                    auto k = [&](double v) { return b.ConstantLike(v, x[0]); };
                    IrValue v = x[0];
                    IrValue inner =
                        approx
                            ? b.Apply(
                                  ScalarOp::kTanh,
                                  b.Apply(ScalarOp::kMul, k(kSqrt2OverPi),
                                          b.Apply(ScalarOp::kAdd, v,
                                                  b.Apply(ScalarOp::kMul, k(kGeluTanhCoeff),
                                                          b.Apply(ScalarOp::kMul, v,
                                                                  b.Apply(ScalarOp::kMul, v, v))))))
                            : b.Apply(ScalarOp::kErf, b.Apply(ScalarOp::kMul, v, k(1 / kSqrt2)));
                    return b.Apply(ScalarOp::kMul, b.Apply(ScalarOp::kMul, k(0.5), v),
                                   b.Apply(ScalarOp::kAdd, k(1), inner));
                  }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const bool approx = c.attr<bool>("approximate_tanh");
          const Literal& x = c.in(0);
          for (int64_t i = 0; i < x.size(); ++i) {
            double v = x.values[i];
            c.out().values[i] =
                approx ? 0.5 * v * (1 + std::tanh(kSqrt2OverPi * (v + kGeluTanhCoeff * v * v * v)))
                       : 0.5 * v * (1 + std::erf(v / kSqrt2));
          }
          return absl::OkStatus();
        }));

KILN_REGISTER_OP(OpDef("Erf")
                     .Doc("the error function")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       const Tensor& x = c.inputs[0];
                       return std::vector<Tensor>{c.output_grads[0] * ops::Exp(-(x * x)) *
                                                  kTwoOverSqrtPi};
                     })
                     .Lower(UnaryLowering(ScalarOp::kErf))
                     .Kernel(UnaryKernel([](double x) { return std::erf(x); })));

KILN_REGISTER_OP(OpDef("Sin")
                     .Doc("sine")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0] * ops::Cos(c.inputs[0])};
                     })
                     .Lower(UnaryLowering(ScalarOp::kSin))
                     .Kernel(UnaryKernel([](double x) { return std::sin(x); })));

KILN_REGISTER_OP(OpDef("Cos")
                     .Doc("cosine")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{-(c.output_grads[0] * ops::Sin(c.inputs[0]))};
                     })
                     .Lower(UnaryLowering(ScalarOp::kCos))
                     .Kernel(UnaryKernel([](double x) { return std::cos(x); })));

KILN_REGISTER_OP(OpDef("Floor")
                     .Doc("largest integer <= x")
                     .Inputs({"x"})
                     .Shape(FloatUnary())
                     .Grad(ZeroGrad)
                     .Lower(UnaryLowering(ScalarOp::kFloor))
                     .Kernel(UnaryKernel([](double x) { return std::floor(x); })));

// ---- Binary arithmetic, NumPy broadcasting. Autodiff sums gradients back to each input's shape.
// ----

KILN_REGISTER_OP(OpDef("Add")
                     .Doc("a + b")
                     .Inputs({"a", "b"})
                     .Shape(Broadcasting())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0], c.output_grads[0]};
                     })
                     .Lower(BinaryLowering(ScalarOp::kAdd))
                     .Kernel(BinaryKernel([](double a, double b) { return a + b; })));

KILN_REGISTER_OP(OpDef("Sub")
                     .Doc("a - b")
                     .Inputs({"a", "b"})
                     .Shape(Broadcasting())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{c.output_grads[0], -c.output_grads[0]};
                     })
                     .Lower(BinaryLowering(ScalarOp::kSub))
                     .Kernel(BinaryKernel([](double a, double b) { return a - b; })));

KILN_REGISTER_OP(OpDef("Mul")
                     .Doc("a * b")
                     .Inputs({"a", "b"})
                     .Shape(Broadcasting())
                     .Grad([](const GradContext& c) {
                       const Tensor& g = c.output_grads[0];
                       return std::vector<Tensor>{g * c.inputs[1], g * c.inputs[0]};
                     })
                     .Lower(BinaryLowering(ScalarOp::kMul))
                     .Kernel(BinaryKernel([](double a, double b) { return a * b; })));

KILN_REGISTER_OP(OpDef("Div")
                     .Doc("a / b (integer division truncates toward zero)")
                     .Inputs({"a", "b"})
                     .Shape(Broadcasting())
                     .Grad([](const GradContext& c) {
                       const Tensor& g = c.output_grads[0];
                       const Tensor& a = c.inputs[0];
                       const Tensor& b = c.inputs[1];
                       return std::vector<Tensor>{g / b, -(g * a / (b * b))};
                     })
                     .Lower(BinaryLowering(ScalarOp::kDiv))
                     .Kernel(BinaryKernel([](double a, double b) { return a / b; })));

KILN_REGISTER_OP(
    OpDef("Pow")
        .Doc("a ^ b")
        .Inputs({"a", "b"})
        .Shape(Broadcasting(2, std::nullopt, true))
        .Grad([](const GradContext& c) {
          const Tensor& g = c.output_grads[0];
          const Tensor& a = c.inputs[0];
          const Tensor& b = c.inputs[1];
          // d/db a^b = a^b log a, taken as 0 where a <= 0 (where the real power has no derivative
          // in b).
          Tensor positive = ops::Greater(a, ops::ZerosLike(a));
          Tensor safe_a = ops::Select(positive, a, ops::OnesLike(a));
          Tensor log_a = ops::Select(positive, ops::Log(safe_a), ops::ZerosLike(a));
          return std::vector<Tensor>{g * b * ops::Pow(a, b - 1.0), g * c.outputs[0] * log_a};
        })
        .Lower(BinaryLowering(ScalarOp::kPow))
        .Kernel(BinaryKernel([](double a, double b) { return std::pow(a, b); })));

KILN_REGISTER_OP(
    OpDef("Maximum")
        .Doc("max(a, b); ties send the gradient to a")
        .Inputs({"a", "b"})
        .Shape(Broadcasting())
        .Grad([](const GradContext& c) {
          const Tensor& g = c.output_grads[0];
          Tensor a_wins = ops::LogicalNot(ops::Less(c.inputs[0], c.inputs[1]));
          Tensor zero = ops::ZerosLike(g);
          return std::vector<Tensor>{ops::Select(a_wins, g, zero), ops::Select(a_wins, zero, g)};
        })
        .Lower(ElementwiseLowering([](ScalarBuilder& b, const std::vector<IrValue>& x) {
          return b.Select(b.Apply(ScalarOp::kLess, x[0], x[1]), x[1],
                          x[0]);  // ties (and NaN b) pick a
        }))
        .Kernel(BinaryKernel([](double a, double b) { return a >= b ? a : b; })));

KILN_REGISTER_OP(
    OpDef("Minimum")
        .Doc("min(a, b); ties send the gradient to a")
        .Inputs({"a", "b"})
        .Shape(Broadcasting())
        .Grad([](const GradContext& c) {
          const Tensor& g = c.output_grads[0];
          Tensor a_wins = ops::LogicalNot(ops::Greater(c.inputs[0], c.inputs[1]));
          Tensor zero = ops::ZerosLike(g);
          return std::vector<Tensor>{ops::Select(a_wins, g, zero), ops::Select(a_wins, zero, g)};
        })
        .Lower(ElementwiseLowering([](ScalarBuilder& b, const std::vector<IrValue>& x) {
          return b.Select(b.Apply(ScalarOp::kGreater, x[0], x[1]), x[1], x[0]);
        }))
        .Kernel(BinaryKernel([](double a, double b) { return a <= b ? a : b; })));

// ---- Comparisons and logic: bool results, no gradient. ----

KILN_REGISTER_OP(OpDef("Equal")
                     .Doc("a == b")
                     .Inputs({"a", "b"})
                     .Shape(Broadcasting(2, DType::kBool))
                     .NotDifferentiable("bool output")
                     .Lower(BinaryLowering(ScalarOp::kEqual))
                     .Kernel(BinaryKernel([](double a, double b) { return a == b ? 1.0 : 0.0; })));

KILN_REGISTER_OP(OpDef("Less")
                     .Doc("a < b")
                     .Inputs({"a", "b"})
                     .Shape(Broadcasting(2, DType::kBool))
                     .NotDifferentiable("bool output")
                     .Lower(BinaryLowering(ScalarOp::kLess))
                     .Kernel(BinaryKernel([](double a, double b) { return a < b ? 1.0 : 0.0; })));

KILN_REGISTER_OP(OpDef("Greater")
                     .Doc("a > b")
                     .Inputs({"a", "b"})
                     .Shape(Broadcasting(2, DType::kBool))
                     .NotDifferentiable("bool output")
                     .Lower(BinaryLowering(ScalarOp::kGreater))
                     .Kernel(BinaryKernel([](double a, double b) { return a > b ? 1.0 : 0.0; })));

ShapeFn BoolInputs(ShapeFn inner) {
  return [inner](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
    for (const TensorType& t : c.inputs) {
      if (t.dtype != DType::kBool) {
        return InvalidArgument(absl::StrCat("expects bool inputs, got ", t.ToString()));
      }
    }
    return inner(c);
  };
}

KILN_REGISTER_OP(OpDef("LogicalAnd")
                     .Doc("a && b")
                     .Inputs({"a", "b"})
                     .Shape(BoolInputs(Broadcasting(2, DType::kBool)))
                     .NotDifferentiable("bool output")
                     .Lower(BinaryLowering(ScalarOp::kAnd))
                     .Kernel(BinaryKernel([](double a, double b) {
                       return a != 0 && b != 0 ? 1.0 : 0.0;
                     })));

KILN_REGISTER_OP(OpDef("LogicalNot")
                     .Doc("!x")
                     .Inputs({"x"})
                     .Shape(BoolInputs(SameAsInput()))
                     .NotDifferentiable("bool output")
                     .Lower(UnaryLowering(ScalarOp::kNot))
                     .Kernel(UnaryKernel([](double x) { return x == 0 ? 1.0 : 0.0; })));

KILN_REGISTER_OP(OpDef("Select")
                     .Doc("cond ? a : b, elementwise with broadcasting")
                     .Inputs({"cond", "a", "b"})
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       if (c.inputs[0].dtype != DType::kBool) {
                         return InvalidArgument(
                             absl::StrCat("condition must be bool, got ", c.inputs[0].ToString()));
                       }
                       return Broadcasting(3)(c);
                     })
                     .Grad([](const GradContext& c) {
                       const Tensor& g = c.output_grads[0];
                       Tensor zero = ops::ZerosLike(g);
                       return std::vector<Tensor>{Tensor(), ops::Select(c.inputs[0], g, zero),
                                                  ops::Select(c.inputs[0], zero, g)};
                     })
                     .Lower(ElementwiseLowering([](ScalarBuilder& b,
                                                   const std::vector<IrValue>& x) {
                       return b.Select(x[0], x[1], x[2]);
                     }))
                     .Kernel([](KernelContext& c) {
                       Literal& y = c.out();
                       std::vector<int64_t> ic = BroadcastIndexMap(c.in(0).shape, y.shape);
                       std::vector<int64_t> ia = BroadcastIndexMap(c.in(1).shape, y.shape);
                       std::vector<int64_t> ib = BroadcastIndexMap(c.in(2).shape, y.shape);
                       for (int64_t i = 0; i < y.size(); ++i) {
                         y.values[i] = c.in(0).values[ic[i]] != 0 ? c.in(1).values[ia[i]]
                                                                  : c.in(2).values[ib[i]];
                       }
                       return absl::OkStatus();
                     }));

}  // namespace

namespace ops {

#define KILN_UNARY_BUILDER(Name) \
  Tensor Name(Tensor x, SourceLoc loc) { return ops_internal::AddOp1(#Name, {x}, {}, loc); }
KILN_UNARY_BUILDER(Neg)
KILN_UNARY_BUILDER(Abs)
KILN_UNARY_BUILDER(Sign)
KILN_UNARY_BUILDER(Exp)
KILN_UNARY_BUILDER(Log)
KILN_UNARY_BUILDER(Log1p)
KILN_UNARY_BUILDER(Sqrt)
KILN_UNARY_BUILDER(Rsqrt)
KILN_UNARY_BUILDER(Square)
KILN_UNARY_BUILDER(Reciprocal)
KILN_UNARY_BUILDER(Tanh)
KILN_UNARY_BUILDER(Sigmoid)
KILN_UNARY_BUILDER(Relu)
KILN_UNARY_BUILDER(Erf)
KILN_UNARY_BUILDER(Sin)
KILN_UNARY_BUILDER(Cos)
KILN_UNARY_BUILDER(Floor)
KILN_UNARY_BUILDER(LogicalNot)
#undef KILN_UNARY_BUILDER

#define KILN_BINARY_BUILDER(Name)                        \
  Tensor Name(Tensor a, Tensor b, SourceLoc loc) {       \
    return ops_internal::AddOp1(#Name, {a, b}, {}, loc); \
  }
KILN_BINARY_BUILDER(Add)
KILN_BINARY_BUILDER(Sub)
KILN_BINARY_BUILDER(Mul)
KILN_BINARY_BUILDER(Div)
KILN_BINARY_BUILDER(Pow)
KILN_BINARY_BUILDER(Maximum)
KILN_BINARY_BUILDER(Minimum)
KILN_BINARY_BUILDER(Equal)
KILN_BINARY_BUILDER(Less)
KILN_BINARY_BUILDER(Greater)
KILN_BINARY_BUILDER(LogicalAnd)
#undef KILN_BINARY_BUILDER

Tensor Gelu(Tensor x, bool approximate_tanh, SourceLoc loc) {
  return ops_internal::AddOp1("Gelu", {x}, {{"approximate_tanh", approximate_tanh}}, loc);
}

Tensor Select(Tensor cond, Tensor a, Tensor b, SourceLoc loc) {
  return ops_internal::AddOp1("Select", {cond, a, b}, {}, loc);
}

}  // namespace ops

namespace {
// A scalar constant of t's dtype in t's graph (an invalid handle if t has no graph).
Tensor ScalarLike(const Tensor& t, double v, SourceLoc loc) {
  if (t.graph() == nullptr) return Tensor();
  return ops::Scalar(*t.graph(), v, t.dtype(), loc);
}
}  // namespace

Tensor operator+(const Tensor& a, const ops::LocatedTensor& b) {
  return ops::Add(a, b.tensor, b.loc);
}
Tensor operator-(const Tensor& a, const ops::LocatedTensor& b) {
  return ops::Sub(a, b.tensor, b.loc);
}
Tensor operator*(const Tensor& a, const ops::LocatedTensor& b) {
  return ops::Mul(a, b.tensor, b.loc);
}
Tensor operator/(const Tensor& a, const ops::LocatedTensor& b) {
  return ops::Div(a, b.tensor, b.loc);
}
Tensor operator+(const Tensor& a, const ops::LocatedScalar& b) {
  return ops::Add(a, ScalarLike(a, b.value, b.loc), b.loc);
}
Tensor operator-(const Tensor& a, const ops::LocatedScalar& b) {
  return ops::Sub(a, ScalarLike(a, b.value, b.loc), b.loc);
}
Tensor operator*(const Tensor& a, const ops::LocatedScalar& b) {
  return ops::Mul(a, ScalarLike(a, b.value, b.loc), b.loc);
}
Tensor operator/(const Tensor& a, const ops::LocatedScalar& b) {
  return ops::Div(a, ScalarLike(a, b.value, b.loc), b.loc);
}
Tensor operator+(const ops::LocatedScalar& a, const Tensor& b) {
  return ops::Add(ScalarLike(b, a.value, a.loc), b, a.loc);
}
Tensor operator-(const ops::LocatedScalar& a, const Tensor& b) {
  return ops::Sub(ScalarLike(b, a.value, a.loc), b, a.loc);
}
Tensor operator*(const ops::LocatedScalar& a, const Tensor& b) {
  return ops::Mul(ScalarLike(b, a.value, a.loc), b, a.loc);
}
Tensor operator/(const ops::LocatedScalar& a, const Tensor& b) {
  return ops::Div(ScalarLike(b, a.value, a.loc), b, a.loc);
}
Tensor operator-(const Tensor& x) { return ops::Neg(x); }

KILN_OP_FAMILY(Math);

}  // namespace kiln
