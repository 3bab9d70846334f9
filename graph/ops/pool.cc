// Pools: MaxPool2D and AvgPool2D with their gradients.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "graph/ops/window.h"
#include "graph/status_macros.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions
using Ints = std::vector<int64_t>;
using TypesOr = absl::StatusOr<std::vector<TensorType>>;

// ---- Windows in the reference kernels ----

// The (ih, iw) input positions of output (oh, ow)'s window, row-major. Never empty for a valid pool
// geometry: SAME pads less than a window on each side.
std::vector<std::pair<int64_t, int64_t>> WindowTaps(const Geometry& g, int64_t oh, int64_t ow) {
  std::vector<std::pair<int64_t, int64_t>> taps;
  for (int64_t kh = 0; kh < g.h.k; ++kh) {
    const int64_t ih = g.h.Input(oh, kh);
    if (ih < 0 || ih >= g.h.in) continue;
    for (int64_t kw = 0; kw < g.w.k; ++kw) {
      const int64_t iw = g.w.Input(ow, kw);
      if (iw >= 0 && iw < g.w.in) taps.emplace_back(ih, iw);
    }
  }
  return taps;
}

// Calls f(out_offset, in_offsets) for every output element of a pool, with the flat offsets of the
// input elements its window covers (row-major, so "first" means the top-left-most).
template <typename F>
void ForEachPoolWindow(const Geometry& g, F f) {
  const int64_t c = g.channels;
  std::vector<int64_t> in_offsets;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t oh = 0; oh < g.h.out; ++oh) {
      for (int64_t ow = 0; ow < g.w.out; ++ow) {
        const auto taps = WindowTaps(g, oh, ow);
        for (int64_t ch = 0; ch < c; ++ch) {
          in_offsets.clear();
          for (const auto& [ih, iw] : taps) {
            in_offsets.push_back(Nhwc(n, ih, iw, g.h.in, g.w.in, c) + ch);
          }
          f(Nhwc(n, oh, ow, g.h.out, g.w.out, c) + ch, in_offsets);
        }
      }
    }
  }
}

// The offset of the window's first maximum (the element MaxPool2D reads and its gradient feeds).
int64_t ArgMaxOf(const Literal& x, const std::vector<int64_t>& offsets) {
  int64_t best = offsets[0];
  for (int64_t o : offsets) {
    if (x.values[o] > x.values[best]) best = o;
  }
  return best;
}

// ---- Windows in the lowerings ----

// Loops n, oh, ow, c | kh, kw read input (n, oh * stride + kh * dilation, ..., c).
GenericInput WindowInput(IrValue padded, const Geometry& g) {
  using A = AffineIndex;
  return {padded,
          {A::Loop(0), A::Loop(1, g.h.stride) + A::Loop(4, g.h.dilation),
           A::Loop(2, g.w.stride) + A::Loop(5, g.w.dilation), A::Loop(3)}};
}

// Reduces each window of the padded NHWC input.
IrValue WindowReduce(LoweringContext& c, IrValue padded, const Geometry& g, ReduceKind kind,
                     const TensorType& out) {
  return c.Generic({WindowInput(padded, g)}, {g.h.k, g.w.k}, kind, out,
                   [](ScalarBuilder&, const std::vector<IrValue>& x) { return x[0]; });
}

// The number of input (not padding) elements in each window, as [1,oh,ow,1].
TensorData WindowCounts(const Geometry& g, DType dtype) {
  auto count = [](const Window& w, int64_t o) {
    int64_t n = 0;
    for (int64_t t = 0; t < w.k; ++t) n += w.Input(o, t) >= 0 && w.Input(o, t) < w.in;
    return n;
  };
  Literal counts(dtype, Shape({1, g.h.out, g.w.out, 1}));
  for (int64_t oh = 0; oh < g.h.out; ++oh) {
    for (int64_t ow = 0; ow < g.w.out; ++ow) {
      counts.values[oh * g.w.out + ow] = static_cast<double>(count(g.h, oh) * count(g.w, ow));
    }
  }
  return TensorData(counts);
}

// In a pool gradient's gather (loops n, ih, iw, c over the input | kh, kw over the taps): the
// window (n, oh, ow, c) whose tap (kh, kw) reads input (ih, iw), clamped into range, and whether it
// exists.
struct SourceWindow {
  IrValue exists;
  std::vector<IrValue> at;
  IrValue tap;  // kh * kw_extent + kw, the tap's row-major number
};

SourceWindow FindSourceWindow(ScalarBuilder& b, const Geometry& g) {
  auto i = [&b](int64_t v) { return b.IndexConstant(v); };
  IrValue exists;
  auto along = [&](const Window& w, int position, int tap) {
    // o * stride - pad_before + t * dilation = position
    IrValue num =
        b.Apply(ScalarOp::kSub, b.Apply(ScalarOp::kAdd, b.Index(position), i(w.pad_before)),
                b.Apply(ScalarOp::kMul, b.Index(tap), i(w.dilation)));
    IrValue o = b.Apply(ScalarOp::kDiv, num, i(w.stride));
    IrValue ok =
        b.Apply(ScalarOp::kAnd, b.Apply(ScalarOp::kNot, b.Apply(ScalarOp::kLess, num, i(0))),
                b.Apply(ScalarOp::kEqual, b.Apply(ScalarOp::kRem, num, i(w.stride)), i(0)));
    ok = b.Apply(ScalarOp::kAnd, ok, b.Apply(ScalarOp::kLess, o, i(w.out)));
    exists = exists.valid() ? b.Apply(ScalarOp::kAnd, exists, ok) : ok;
    return b.ClampIndex(o, 0, w.out - 1);
  };
  IrValue oh = along(g.h, 1, 4);
  IrValue ow = along(g.w, 2, 5);
  IrValue tap = b.Apply(ScalarOp::kAdd, b.Apply(ScalarOp::kMul, b.Index(4), i(g.w.k)), b.Index(5));
  return {exists, {b.Index(0), oh, ow, b.Index(3)}, tap};
}

// ---- The pools ----

AttrMap PoolAttrs(const ops::Pool2DOptions& o) {
  return {{"ksize", o.ksize}, {"strides", o.strides}, {"padding", o.padding}};
}

ops::Pool2DOptions PoolOptions(const GradContext& c) {
  ops::Pool2DOptions o;
  o.ksize = c.attr<Ints>("ksize");
  o.strides = c.attr<Ints>("strides");
  o.padding = c.attr<std::string>("padding");
  return o;
}

OpDef PoolDef(const std::string& name, const std::string& doc) {
  return OpDef(name)
      .Doc(doc)
      .Attr("ksize", AttrType::kInts, Ints{2, 2})
      .Attr("strides", AttrType::kInts, Ints{2, 2})
      .Attr("padding", AttrType::kString, std::string("VALID"));
}

ShapeFn PoolShape() {
  return [](const InferContext& c) -> TypesOr {
    KILN_RETURN_IF_ERROR(RequireFloat(c.inputs[0], "input"));
    KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(c.inputs[0].shape, c.attrs));
    return std::vector<TensorType>{{c.inputs[0].dtype, g.OutputShape()}};
  };
}

// The pool gradients' `grad` must be what the pool of `input` produces.
absl::Status CheckPoolGrad(const Geometry& g, const TensorType& grad, const Shape& input) {
  if (grad.shape == g.OutputShape()) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("grad ", grad.ToString(), " does not match the pool output ",
                                      g.OutputShape().ToString(), " of input ", input.ToString()));
}

KILN_REGISTER_OP(PoolDef("MaxPool2D",
                         "maximum over each ksize window of NHWC input (padding is "
                         "never the maximum)")
                     .Inputs({"input"})
                     .Shape(PoolShape())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{
                           ops::MaxPool2DGrad(c.inputs[0], c.output_grads[0], PoolOptions(c))};
                     })
                     .Lower([](LoweringContext& c) {
                       // -inf padding is never the maximum.
                       KILN_ASSIGN_OR_RETURN(const Geometry g,
                                             PoolGeometry(c.input_type(0).shape, c.node().attrs));
                       c.SetOutput(0, WindowReduce(c, PadForWindows(c, c.input(0), g, -INFINITY), g,
                                                   ReduceKind::kMax, c.node().outputs[0]));
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       const Literal& x = c.in(0);
                       Literal& y = c.out();
                       KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(x.shape, c.node.attrs));
                       ForEachPoolWindow(g, [&](int64_t out, const std::vector<int64_t>& in) {
                         y.values[out] = x.values[ArgMaxOf(x, in)];
                       });
                       return absl::OkStatus();
                     }));

KILN_REGISTER_OP(PoolDef("AvgPool2D",
                         "mean over each ksize window of NHWC input (SAME averages "
                         "only the input elements, not the padding)")
                     .Inputs({"input"})
                     .Shape(PoolShape())
                     .Grad([](const GradContext& c) {
                       return std::vector<Tensor>{ops::AvgPool2DGrad(
                           c.output_grads[0], c.inputs[0].shape(), PoolOptions(c))};
                     })
                     .Lower([](LoweringContext& c) {
                       // Window sums over zero padding, divided by each window's count of input
                       // elements.
                       const TensorType& out = c.node().outputs[0];
                       KILN_ASSIGN_OR_RETURN(const Geometry g,
                                             PoolGeometry(c.input_type(0).shape, c.node().attrs));
                       IrValue sums = WindowReduce(c, PadForWindows(c, c.input(0), g, 0), g,
                                                   ReduceKind::kSum, out);
                       c.SetOutput(
                           0, c.Elementwise({sums, c.Constant(WindowCounts(g, out.dtype))}, out,
                                            [](ScalarBuilder& b, const std::vector<IrValue>& x) {
                                              return b.Apply(ScalarOp::kDiv, x[0], x[1]);
                                            }));
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       const Literal& x = c.in(0);
                       Literal& y = c.out();
                       KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(x.shape, c.node.attrs));
                       ForEachPoolWindow(g, [&](int64_t out, const std::vector<int64_t>& in) {
                         double sum = 0;
                         for (int64_t i : in) sum += x.values[i];
                         y.values[out] = sum / static_cast<double>(in.size());
                       });
                       return absl::OkStatus();
                     }));

KILN_REGISTER_OP(
    PoolDef("MaxPool2DGrad",
            "gradient of MaxPool2D: grad routed to each window's "
            "first maximum of input (summed where windows share it)")
        .Inputs({"input", "grad"})
        .Shape([](const InferContext& c) -> TypesOr {
          KILN_RETURN_IF_ERROR(CheckFloatOperands(c.inputs[0], c.inputs[1], "input", "grad"));
          KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(c.inputs[0].shape, c.attrs));
          KILN_RETURN_IF_ERROR(CheckPoolGrad(g, c.inputs[1], c.inputs[0].shape));
          return std::vector<TensorType>{c.inputs[0]};
        })
        // d/d(grad) reads the upstream gradient at each window's argmax: a per-window gather that
        // no registered op expresses (it would need a MaxPool2DGradGrad op).
        .NotDifferentiable(
            "second-order max pooling is not supported: the gradient with respect to "
            "grad needs a gather at each window's argmax")
        .Lower([](LoweringContext& c) {
          // Each window's first maximum (its smallest row-major tap equal to the maximum), then
          // each input element gathers the gradient of the windows whose first maximum it is.
          const TensorType& x = c.input_type(0);
          KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(x.shape, c.node().attrs));
          IrValue padded = PadForWindows(c, c.input(0), g, -INFINITY);
          IrValue max = WindowReduce(c, padded, g, ReduceKind::kMax, {x.dtype, g.OutputShape()});
          const int64_t kw = g.w.k, taps = g.h.k * g.w.k;
          IrValue first = c.Generic(
              {WindowInput(padded, g), {max, AffineIndex::Loops(0, 4)}}, {g.h.k, g.w.k},
              ReduceKind::kMin, {DType::kI64, g.OutputShape()},
              [kw, taps](ScalarBuilder& b, const std::vector<IrValue>& v) {
                IrValue row = b.Apply(ScalarOp::kMul, b.Index(4), b.IndexConstant(kw));
                IrValue tap = b.Apply(ScalarOp::kAdd, row, b.Index(5));
                return b.Select(b.Apply(ScalarOp::kEqual, v[0], v[1]), b.Convert(tap, DType::kI64),
                                b.IntConstant(taps, DType::kI64));
              });
          IrValue grad = c.input(1);
          c.SetOutput(0, c.Generic({}, {g.h.k, g.w.k}, ReduceKind::kSum, x,
                                   [=](ScalarBuilder& b, const std::vector<IrValue>&) {
                                     SourceWindow w = FindSourceWindow(b, g);
                                     IrValue is_first =
                                         b.Apply(ScalarOp::kEqual, b.Extract(first, w.at),
                                                 b.Convert(w.tap, DType::kI64));
                                     return b.Select(b.Apply(ScalarOp::kAnd, w.exists, is_first),
                                                     b.Extract(grad, w.at), b.Constant(0, x.dtype));
                                   }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& x = c.in(0);
          const Literal& dy = c.in(1);
          Literal& dx = c.out();
          KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(x.shape, c.node.attrs));
          std::fill(dx.values.begin(), dx.values.end(), 0.0);
          ForEachPoolWindow(g, [&](int64_t out, const std::vector<int64_t>& in) {
            dx.values[ArgMaxOf(x, in)] += dy.values[out];
          });
          return absl::OkStatus();
        }));

// AvgPool2DGrad is linear in grad and the adjoint of AvgPool2D, so its gradient is AvgPool2D.
KILN_REGISTER_OP(
    PoolDef("AvgPool2DGrad",
            "gradient of AvgPool2D: each grad element spread evenly "
            "over its window's input elements (of input_shape)")
        .Inputs({"grad"})
        .Attr("input_shape", AttrType::kShape)
        .Shape([](const InferContext& c) -> TypesOr {
          KILN_RETURN_IF_ERROR(RequireFloat(c.inputs[0], "grad"));
          const Shape& input = c.attr<Shape>("input_shape");
          KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(input, c.attrs));
          KILN_RETURN_IF_ERROR(CheckPoolGrad(g, c.inputs[0], input));
          return std::vector<TensorType>{{c.inputs[0].dtype, input}};
        })
        .Grad([](const GradContext& c) {
          return std::vector<Tensor>{ops::AvgPool2D(c.output_grads[0], PoolOptions(c))};
        })
        .Lower([](LoweringContext& c) {
          // Each window's share (grad / count), gathered by the input elements its taps read.
          const TensorType& out = c.node().outputs[0];
          const TensorType& grad = c.input_type(0);
          KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(out.shape, c.node().attrs));
          IrValue share = c.Elementwise({c.input(0), c.Constant(WindowCounts(g, grad.dtype))}, grad,
                                        [](ScalarBuilder& b, const std::vector<IrValue>& x) {
                                          return b.Apply(ScalarOp::kDiv, x[0], x[1]);
                                        });
          const DType dtype = out.dtype;
          c.SetOutput(0, c.Generic({}, {g.h.k, g.w.k}, ReduceKind::kSum, out,
                                   [=](ScalarBuilder& b, const std::vector<IrValue>&) {
                                     SourceWindow w = FindSourceWindow(b, g);
                                     return b.Select(w.exists, b.Extract(share, w.at),
                                                     b.Constant(0, dtype));
                                   }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& dy = c.in(0);
          Literal& dx = c.out();
          KILN_ASSIGN_OR_RETURN(const Geometry g, PoolGeometry(dx.shape, c.node.attrs));
          std::fill(dx.values.begin(), dx.values.end(), 0.0);
          ForEachPoolWindow(g, [&](int64_t out, const std::vector<int64_t>& in) {
            const double share = dy.values[out] / static_cast<double>(in.size());
            for (int64_t i : in) dx.values[i] += share;
          });
          return absl::OkStatus();
        }));

}  // namespace

namespace ops {

Tensor MaxPool2D(Tensor input, const Pool2DOptions& options, SourceLoc loc) {
  return ops_internal::AddOp1("MaxPool2D", {input}, PoolAttrs(options), loc);
}

Tensor AvgPool2D(Tensor input, const Pool2DOptions& options, SourceLoc loc) {
  return ops_internal::AddOp1("AvgPool2D", {input}, PoolAttrs(options), loc);
}

Tensor MaxPool2DGrad(Tensor input, Tensor grad, const Pool2DOptions& options, SourceLoc loc) {
  return ops_internal::AddOp1("MaxPool2DGrad", {input, grad}, PoolAttrs(options), loc);
}

Tensor AvgPool2DGrad(Tensor grad, Shape input_shape, const Pool2DOptions& options, SourceLoc loc) {
  AttrMap attrs = PoolAttrs(options);
  attrs.emplace("input_shape", std::move(input_shape));
  return ops_internal::AddOp1("AvgPool2DGrad", {grad}, std::move(attrs), loc);
}

}  // namespace ops
KILN_OP_FAMILY(Pool);

}  // namespace kiln
