// RandomUniform and RandomNormal: stateless, values a pure function of (seed, counter, index).
#include "graph/random.h"

#include <cmath>

#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions

ShapeFn RandomShape() {
  return [](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
    if (!(c.inputs[0].dtype == DType::kI64 && c.inputs[0].shape.rank() == 0)) {
      return InvalidArgument(
          absl::StrCat("counter must be an i64 scalar, got ", c.inputs[0].ToString()));
    }
    DType dtype = c.attr<DType>("dtype");
    if (!IsFloat(dtype))
      return InvalidArgument(absl::StrCat("dtype must be floating point, got ", DTypeName(dtype)));
    for (int64_t d : c.attr<Shape>("shape").dims()) {
      if (d < 0)
        return InvalidArgument(
            absl::StrCat("negative dimension in shape ", c.attr<Shape>("shape").ToString()));
    }
    return std::vector<TensorType>{{dtype, c.attr<Shape>("shape")}};
  };
}

KernelFn RandomKernel(double (*sample)(uint64_t, uint64_t, uint64_t), const char* a, const char* b,
                      bool affine_scale) {
  return [=](KernelContext& c) {
    const uint64_t seed = static_cast<uint64_t>(c.attr<int64_t>("seed"));
    const uint64_t counter = static_cast<uint64_t>(static_cast<int64_t>(c.in(0).values[0]));
    const double p = c.attr<double>(a), q = c.attr<double>(b);
    for (int64_t i = 0; i < c.out().size(); ++i) {
      const double s = sample(seed, counter, static_cast<uint64_t>(i));
      // uniform: low + (high - low) * u; normal: mean + stddev * z
      c.out().values[i] = affine_scale ? p + (q - p) * s : p + q * s;
    }
    return absl::OkStatus();
  };
}

// RandomBits' SplitMix64 finalizer in generated code: i64 arithmetic wraps like uint64's and the
// shifts are logical, so the bits are identical.
IrValue MixBits(ScalarBuilder& b, IrValue z) {
  auto k = [&b](uint64_t v) { return b.IntConstant(static_cast<int64_t>(v), DType::kI64); };
  auto mix_step = [&](IrValue x, int shift, uint64_t multiplier) {
    IrValue mixed = b.Apply(ScalarOp::kXor, x, b.Apply(ScalarOp::kShiftRightLogical, x, k(shift)));
    return multiplier == 0 ? mixed : b.Apply(ScalarOp::kMul, mixed, k(multiplier));
  };
  z = b.Apply(ScalarOp::kAdd, z, k(0x9e3779b97f4a7c15ULL));
  z = mix_step(z, 30, 0xbf58476d1ce4e5b9ULL);
  z = mix_step(z, 27, 0x94d049bb133111ebULL);
  return mix_step(z, 31, 0);
}

// UniformAt / NormalAt per element, in f64 like the kernel, then rounded to the dtype; the element
// index is the row-major position.
LowerFn RandomLowering(bool normal, const char* p_attr, const char* q_attr) {
  return [=](LoweringContext& c) {
    const TensorType& out = c.node().outputs[0];
    const int64_t seed = c.node().attr<int64_t>("seed");
    const double p = c.node().attr<double>(p_attr), q = c.node().attr<double>(q_attr);
    const std::vector<int64_t> strides = out.shape.Strides();
    const DType dtype = out.dtype;
    auto body = [=](ScalarBuilder& b, const std::vector<IrValue>& counter) {
      IrValue flat = b.IndexConstant(0);
      for (size_t d = 0; d < strides.size(); ++d) {
        IrValue term =
            b.Apply(ScalarOp::kMul, b.Index(static_cast<int>(d)), b.IndexConstant(strides[d]));
        flat = b.Apply(ScalarOp::kAdd, flat, term);
      }
      IrValue index = b.Convert(flat, DType::kI64);
      IrValue seed_bits = MixBits(b, b.IntConstant(seed, DType::kI64));
      IrValue key = MixBits(b, b.Apply(ScalarOp::kXor, seed_bits, counter[0]));
      auto uniform = [&](IrValue i) {
        IrValue bits = MixBits(b, b.Apply(ScalarOp::kXor, key, i));
        IrValue top = b.Apply(ScalarOp::kShiftRightLogical, bits, b.IntConstant(11, DType::kI64));
        return b.Apply(ScalarOp::kMul, b.Convert(top, DType::kF64),
                       b.Constant(0x1.0p-53, DType::kF64));
      };
      IrValue sample;
      if (normal) {
        IrValue even = b.Apply(ScalarOp::kMul, index, b.IntConstant(2, DType::kI64));
        IrValue u1 = b.Apply(ScalarOp::kSub, b.Constant(1, DType::kF64), uniform(even));
        IrValue u2 = uniform(b.Apply(ScalarOp::kAdd, even, b.IntConstant(1, DType::kI64)));
        IrValue radius = b.Apply(
            ScalarOp::kSqrt,
            b.Apply(ScalarOp::kMul, b.Constant(-2.0, DType::kF64), b.Apply(ScalarOp::kLog, u1)));
        IrValue angle = b.Apply(ScalarOp::kMul, b.Constant(2.0 * M_PI, DType::kF64), u2);
        sample = b.Apply(ScalarOp::kMul, radius, b.Apply(ScalarOp::kCos, angle));
      } else {
        sample = uniform(index);
      }
      // uniform: low + (high - low) * u; normal: mean + stddev * z
      IrValue scale = b.Constant(normal ? q : q - p, DType::kF64);
      IrValue value = b.Apply(ScalarOp::kAdd, b.Constant(p, DType::kF64),
                              b.Apply(ScalarOp::kMul, scale, sample));
      return b.Convert(value, dtype);
    };
    c.SetOutput(0, c.Elementwise({c.input(0)}, out, body));
    return absl::OkStatus();
  };
}

KILN_REGISTER_OP(OpDef("RandomUniform")
                     .Doc("uniform samples in [low, high), reproducible by seed and counter")
                     .Inputs({"counter"})
                     .Attr("shape", AttrType::kShape)
                     .Attr("dtype", AttrType::kDType, DType::kF32)
                     .Attr("seed", AttrType::kInt)
                     .Attr("low", AttrType::kFloat, 0.0)
                     .Attr("high", AttrType::kFloat, 1.0)
                     .Shape(RandomShape())
                     .NotDifferentiable("a sampling op; its only input is an integer counter")
                     .Lower(RandomLowering(false, "low", "high"))
                     .Kernel(RandomKernel(UniformAt, "low", "high", true)));

KILN_REGISTER_OP(OpDef("RandomNormal")
                     .Doc("normal samples, reproducible by seed and counter")
                     .Inputs({"counter"})
                     .Attr("shape", AttrType::kShape)
                     .Attr("dtype", AttrType::kDType, DType::kF32)
                     .Attr("seed", AttrType::kInt)
                     .Attr("mean", AttrType::kFloat, 0.0)
                     .Attr("stddev", AttrType::kFloat, 1.0)
                     .Shape(RandomShape())
                     .NotDifferentiable("a sampling op; its only input is an integer counter")
                     .Lower(RandomLowering(true, "mean", "stddev"))
                     .Kernel(RandomKernel(NormalAt, "mean", "stddev", false)));

Tensor CounterOrZero(Graph& g, Tensor counter, SourceLoc loc) {
  return counter.graph() != nullptr ? counter : ops::Scalar(g, 0, DType::kI64, loc);
}

}  // namespace

namespace ops {

Tensor RandomUniform(Graph& g, Shape shape, int64_t seed, double low, double high, DType dtype,
                     Tensor counter, SourceLoc loc) {
  return ops_internal::AddOp1(
      "RandomUniform", {CounterOrZero(g, counter, loc)},
      {{"shape", std::move(shape)}, {"dtype", dtype}, {"seed", seed}, {"low", low}, {"high", high}},
      loc);
}

Tensor RandomNormal(Graph& g, Shape shape, int64_t seed, double mean, double stddev, DType dtype,
                    Tensor counter, SourceLoc loc) {
  return ops_internal::AddOp1("RandomNormal", {CounterOrZero(g, counter, loc)},
                              {{"shape", std::move(shape)},
                               {"dtype", dtype},
                               {"seed", seed},
                               {"mean", mean},
                               {"stddev", stddev}},
                              loc);
}

}  // namespace ops
KILN_OP_FAMILY(Random);

}  // namespace kiln
