// RandomUniform and RandomNormal: stateless, values a pure function of (seed, counter, index).
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "graph/random.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions

ShapeFn RandomShape() {
  return [](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
    if (!(c.inputs[0].dtype == DType::kI64 && c.inputs[0].shape.rank() == 0)) {
      return InvalidArgument(absl::StrCat("counter must be an i64 scalar, got ", c.inputs[0].ToString()));
    }
    DType dtype = c.attr<DType>("dtype");
    if (!IsFloat(dtype)) return InvalidArgument(absl::StrCat("dtype must be floating point, got ", DTypeName(dtype)));
    for (int64_t d : c.attr<Shape>("shape").dims()) {
      if (d < 0) return InvalidArgument(absl::StrCat("negative dimension in shape ", c.attr<Shape>("shape").ToString()));
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

KILN_REGISTER_OP(OpDef("RandomUniform").Doc("uniform samples in [low, high), reproducible by seed and counter")
    .Inputs({"counter"}).Attr("shape", AttrType::kShape).Attr("dtype", AttrType::kDType, DType::kF32)
    .Attr("seed", AttrType::kInt).Attr("low", AttrType::kFloat, 0.0).Attr("high", AttrType::kFloat, 1.0)
    .Shape(RandomShape())
    .NotDifferentiable("a sampling op; its only input is an integer counter")
    .Kernel(RandomKernel(UniformAt, "low", "high", true)));

KILN_REGISTER_OP(OpDef("RandomNormal").Doc("normal samples, reproducible by seed and counter")
    .Inputs({"counter"}).Attr("shape", AttrType::kShape).Attr("dtype", AttrType::kDType, DType::kF32)
    .Attr("seed", AttrType::kInt).Attr("mean", AttrType::kFloat, 0.0).Attr("stddev", AttrType::kFloat, 1.0)
    .Shape(RandomShape())
    .NotDifferentiable("a sampling op; its only input is an integer counter")
    .Kernel(RandomKernel(NormalAt, "mean", "stddev", false)));

Tensor CounterOrZero(Graph& g, Tensor counter, SourceLoc loc) {
  return counter.graph() != nullptr ? counter : ops::Scalar(g, 0, DType::kI64, loc);
}

}  // namespace

namespace ops {

Tensor RandomUniform(Graph& g, Shape shape, int64_t seed, double low, double high, DType dtype,
                     Tensor counter, SourceLoc loc) {
  return ops_internal::AddOp1("RandomUniform", {CounterOrZero(g, counter, loc)},
                              {{"shape", std::move(shape)}, {"dtype", dtype}, {"seed", seed},
                               {"low", low}, {"high", high}},
                              loc);
}

Tensor RandomNormal(Graph& g, Shape shape, int64_t seed, double mean, double stddev, DType dtype,
                    Tensor counter, SourceLoc loc) {
  return ops_internal::AddOp1("RandomNormal", {CounterOrZero(g, counter, loc)},
                              {{"shape", std::move(shape)}, {"dtype", dtype}, {"seed", seed},
                               {"mean", mean}, {"stddev", stddev}},
                              loc);
}

}  // namespace ops
}  // namespace kiln
