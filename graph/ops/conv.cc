// Convolutions: Conv2D and its two backprops, Conv2DBackpropInput and Conv2DBackpropFilter.
#include <algorithm>
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
#include "runtime/hook_params.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions
using Ints = std::vector<int64_t>;
using TypesOr = absl::StatusOr<std::vector<TensorType>>;

// The convolution kernels' parameters (runtime/dnnl_kernels.h).
std::vector<int64_t> ConvParams(const Geometry& g) {
  std::vector<int64_t> p(KILN_CONV_PARAMS);
  p[KILN_CONV_N] = g.batch;
  p[KILN_CONV_H] = g.h.in;
  p[KILN_CONV_W] = g.w.in;
  p[KILN_CONV_C] = g.channels;
  p[KILN_CONV_KH] = g.h.k;
  p[KILN_CONV_KW] = g.w.k;
  p[KILN_CONV_O] = g.out_channels;
  p[KILN_CONV_OH] = g.h.out;
  p[KILN_CONV_OW] = g.w.out;
  p[KILN_CONV_STRIDE_H] = g.h.stride;
  p[KILN_CONV_STRIDE_W] = g.w.stride;
  p[KILN_CONV_DILATION_H] = g.h.dilation;
  p[KILN_CONV_DILATION_W] = g.w.dilation;
  p[KILN_CONV_PAD_TOP] = g.h.pad_before;
  p[KILN_CONV_PAD_LEFT] = g.w.pad_before;
  p[KILN_CONV_PAD_BOTTOM] = PadAfter(g.h);
  p[KILN_CONV_PAD_RIGHT] = PadAfter(g.w);
  return p;
}

AttrMap ConvAttrs(const ops::Conv2DOptions& o) {
  return {{"strides", o.strides},
          {"dilations", o.dilations},
          {"padding", o.padding},
          {"explicit_padding", o.explicit_padding}};
}

ops::Conv2DOptions ConvOptions(const GradContext& c) {
  ops::Conv2DOptions o;
  o.strides = c.attr<Ints>("strides");
  o.dilations = c.attr<Ints>("dilations");
  o.padding = c.attr<std::string>("padding");
  o.explicit_padding = c.attr<Ints>("explicit_padding");
  return o;
}

OpDef ConvDef(const std::string& name, const std::string& doc) {
  return OpDef(name)
      .Doc(doc)
      .Attr("strides", AttrType::kInts, Ints{1, 1})
      .Attr("dilations", AttrType::kInts, Ints{1, 1})
      .Attr("padding", AttrType::kString, std::string("VALID"))
      .Attr("explicit_padding", AttrType::kInts, Ints{});
}

// The backprops' `grad` must be what Conv2D of those shapes produces.
absl::Status CheckConvGrad(const Geometry& g, const TensorType& grad, const Shape& input,
                           const Shape& filter) {
  if (grad.shape == g.OutputShape()) return absl::OkStatus();
  return InvalidArgument(absl::StrCat(
      "grad ", grad.ToString(), " does not match the Conv2D output ", g.OutputShape().ToString(),
      " of input ", input.ToString(), " and filter ", filter.ToString()));
}

// The reference kernel of Conv2D and of its backprops, which differ only in which operand
// accumulates: zeroes the output, then calls accumulate(x, f, y) with the flat offsets of every
// product input[x] * filter[f] that Conv2D sums into output[y] (taps that read padding are
// skipped).
template <typename F>
absl::Status ConvKernel(KernelContext& c, const Shape& input, const Shape& filter, F accumulate) {
  KILN_ASSIGN_OR_RETURN(const Geometry g, ConvGeometry(input, filter, c.node.attrs));
  std::fill(c.out().values.begin(), c.out().values.end(), 0.0);
  const int64_t ci = g.channels, co = g.out_channels;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t oh = 0; oh < g.h.out; ++oh) {
      for (int64_t ow = 0; ow < g.w.out; ++ow) {
        const int64_t y_base = Nhwc(n, oh, ow, g.h.out, g.w.out, co);
        for (int64_t kh = 0; kh < g.h.k; ++kh) {
          const int64_t ih = g.h.Input(oh, kh);
          if (ih < 0 || ih >= g.h.in) continue;
          for (int64_t kw = 0; kw < g.w.k; ++kw) {
            const int64_t iw = g.w.Input(ow, kw);
            if (iw < 0 || iw >= g.w.in) continue;
            const int64_t x_base = Nhwc(n, ih, iw, g.h.in, g.w.in, ci);
            const int64_t f_base = (kh * g.w.k + kw) * ci * co;
            for (int64_t i = 0; i < ci; ++i) {
              for (int64_t o = 0; o < co; ++o) {
                accumulate(x_base + i, f_base + i * co + o, y_base + o);
              }
            }
          }
        }
      }
    }
  }
  return absl::OkStatus();
}

KILN_REGISTER_OP(
    ConvDef("Conv2D",
            "NHWC input [n,h,w,c] convolved (cross-correlated) with HWIO "
            "filter [kh,kw,c,o] -> [n,oh,ow,o]")
        .Inputs({"input", "filter"})
        .Shape([](const InferContext& c) -> TypesOr {
          KILN_RETURN_IF_ERROR(CheckFloatOperands(c.inputs[0], c.inputs[1], "input", "filter"));
          KILN_ASSIGN_OR_RETURN(const Geometry g,
                                ConvGeometry(c.inputs[0].shape, c.inputs[1].shape, c.attrs));
          return std::vector<TensorType>{{c.inputs[0].dtype, g.OutputShape()}};
        })
        .Grad([](const GradContext& c) {
          const Tensor& x = c.inputs[0];
          const Tensor& f = c.inputs[1];
          const Tensor& g = c.output_grads[0];
          const ops::Conv2DOptions o = ConvOptions(c);
          return std::vector<Tensor>{ops::Conv2DBackpropInput(g, f, x.shape(), o),
                                     ops::Conv2DBackpropFilter(x, g, f.shape(), o)};
        })
        .Lower([](LoweringContext& c) {
          // Loops n, oh, ow, co | kh, kw, ci over the padded input.
          KILN_ASSIGN_OR_RETURN(
              const Geometry g,
              ConvGeometry(c.input_type(0).shape, c.input_type(1).shape, c.node().attrs));
          c.SetOutput(0, c.LibraryCall(
                             LibraryKernel::kConv2D, ConvParams(g), {c.input(0), c.input(1)},
                             c.node().outputs[0], [&c, g] {
                               using A = AffineIndex;
                               GenericInput input{
                                   PadForWindows(c, c.input(0), g, 0),
                                   {A::Loop(0), A::Loop(1, g.h.stride) + A::Loop(4, g.h.dilation),
                                    A::Loop(2, g.w.stride) + A::Loop(5, g.w.dilation), A::Loop(6)}};
                               GenericInput filter{
                                   c.input(1), {A::Loop(4), A::Loop(5), A::Loop(6), A::Loop(3)}};
                               return c.Generic({input, filter}, {g.h.k, g.w.k, g.channels},
                                                ReduceKind::kSum, c.node().outputs[0], Product);
                             }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& x = c.in(0);
          const Literal& f = c.in(1);
          Literal& y = c.out();
          return ConvKernel(c, x.shape, f.shape, [&](int64_t xi, int64_t fi, int64_t yi) {
            y.values[yi] += x.values[xi] * f.values[fi];
          });
        }));

// Conv2DBackpropInput in loops: a stride-1 convolution of the gradient, dilated by the strides
// (zeros between its elements) and padded (or cropped) by (k - 1) * dilation - pad_before, with the
// filter flipped spatially: dx[i] = sum_t D[i + pad_before - t * dilation] f[t].
IrValue BackpropInputLoops(LoweringContext& c, const Geometry& g, const TensorType& out) {
  const TensorType& grad = c.input_type(0);
  IrValue dilated = c.input(0);
  const int64_t rows = (g.h.out - 1) * g.h.stride + 1, cols = (g.w.out - 1) * g.w.stride + 1;
  if (g.h.stride > 1 || g.w.stride > 1) {
    IrValue zeros = c.Fill(0, {grad.dtype, Shape({g.batch, rows, cols, g.out_channels})});
    dilated = c.InsertSlice(dilated, zeros, {0, 0, 0, 0}, {1, g.h.stride, g.w.stride, 1});
  }
  auto low = [](const Window& w) { return (w.k - 1) * w.dilation - w.pad_before; };
  auto high = [&](const Window& w, int64_t length) {
    return w.in + (w.k - 1) * w.dilation - low(w) - length;
  };
  IrValue padded = PadOrCrop(c, dilated, {0, low(g.h), low(g.w), 0},
                             {0, high(g.h, rows), high(g.w, cols), 0}, 0);
  // Loops n, ih, iw, ci | kh, kw, co.
  using A = AffineIndex;
  GenericInput input{padded,
                     {A::Loop(0), A::Loop(1) + A::Loop(4, g.h.dilation),
                      A::Loop(2) + A::Loop(5, g.w.dilation), A::Loop(6)}};
  GenericInput filter{
      c.input(1),
      {A::Loop(4, -1) + (g.h.k - 1), A::Loop(5, -1) + (g.w.k - 1), A::Loop(3), A::Loop(6)}};
  return c.Generic({input, filter}, {g.h.k, g.w.k, g.out_channels}, ReduceKind::kSum, out, Product);
}

// Conv2D is bilinear: <G, Conv2D(X, F)> defines both backprops, and differentiating that pairing
// again gives each backprop's gradients as the other two convolutions.
KILN_REGISTER_OP(
    ConvDef("Conv2DBackpropInput",
            "gradient of Conv2D with respect to its input (of shape input_shape), "
            "given grad [n,oh,ow,o] and the filter")
        .Inputs({"grad", "filter"})
        .Attr("input_shape", AttrType::kShape)
        .Shape([](const InferContext& c) -> TypesOr {
          KILN_RETURN_IF_ERROR(CheckFloatOperands(c.inputs[0], c.inputs[1], "grad", "filter"));
          const Shape& input = c.attr<Shape>("input_shape");
          KILN_ASSIGN_OR_RETURN(const Geometry g, ConvGeometry(input, c.inputs[1].shape, c.attrs));
          KILN_RETURN_IF_ERROR(CheckConvGrad(g, c.inputs[0], input, c.inputs[1].shape));
          return std::vector<TensorType>{{c.inputs[0].dtype, input}};
        })
        .Grad([](const GradContext& c) {
          const Tensor& grad = c.inputs[0];
          const Tensor& f = c.inputs[1];
          const Tensor& h = c.output_grads[0];
          const ops::Conv2DOptions o = ConvOptions(c);
          return std::vector<Tensor>{ops::Conv2D(h, f, o),
                                     ops::Conv2DBackpropFilter(h, grad, f.shape(), o)};
        })
        .Lower([](LoweringContext& c) {
          const TensorType& out = c.node().outputs[0];
          KILN_ASSIGN_OR_RETURN(const Geometry g,
                                ConvGeometry(out.shape, c.input_type(1).shape, c.node().attrs));
          c.SetOutput(0, c.LibraryCall(LibraryKernel::kConv2DBackpropInput, ConvParams(g),
                                       {c.input(0), c.input(1)}, out,
                                       [&c, &out, g] { return BackpropInputLoops(c, g, out); }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& dy = c.in(0);
          const Literal& f = c.in(1);
          Literal& dx = c.out();
          return ConvKernel(c, dx.shape, f.shape, [&](int64_t xi, int64_t fi, int64_t yi) {
            dx.values[xi] += dy.values[yi] * f.values[fi];
          });
        }));

KILN_REGISTER_OP(
    ConvDef("Conv2DBackpropFilter",
            "gradient of Conv2D with respect to its filter (of shape filter_shape), "
            "given the input and grad [n,oh,ow,o]")
        .Inputs({"input", "grad"})
        .Attr("filter_shape", AttrType::kShape)
        .Shape([](const InferContext& c) -> TypesOr {
          KILN_RETURN_IF_ERROR(CheckFloatOperands(c.inputs[0], c.inputs[1], "input", "grad"));
          const Shape& filter = c.attr<Shape>("filter_shape");
          KILN_ASSIGN_OR_RETURN(const Geometry g, ConvGeometry(c.inputs[0].shape, filter, c.attrs));
          KILN_RETURN_IF_ERROR(CheckConvGrad(g, c.inputs[1], c.inputs[0].shape, filter));
          return std::vector<TensorType>{{c.inputs[0].dtype, filter}};
        })
        .Grad([](const GradContext& c) {
          const Tensor& x = c.inputs[0];
          const Tensor& grad = c.inputs[1];
          const Tensor& h = c.output_grads[0];
          const ops::Conv2DOptions o = ConvOptions(c);
          return std::vector<Tensor>{ops::Conv2DBackpropInput(grad, h, x.shape(), o),
                                     ops::Conv2D(x, h, o)};
        })
        .Lower([](LoweringContext& c) {
          // Loops kh, kw, ci, co | n, oh, ow over the padded input and the gradient.
          const TensorType& out = c.node().outputs[0];
          KILN_ASSIGN_OR_RETURN(const Geometry g,
                                ConvGeometry(c.input_type(0).shape, out.shape, c.node().attrs));
          c.SetOutput(
              0,
              c.LibraryCall(
                  LibraryKernel::kConv2DBackpropFilter, ConvParams(g), {c.input(0), c.input(1)},
                  out, [&c, &out, g] {
                    using A = AffineIndex;
                    GenericInput input{
                        PadForWindows(c, c.input(0), g, 0),
                        {A::Loop(4), A::Loop(5, g.h.stride) + A::Loop(0, g.h.dilation),
                         A::Loop(6, g.w.stride) + A::Loop(1, g.w.dilation), A::Loop(2)}};
                    GenericInput grad{c.input(1), {A::Loop(4), A::Loop(5), A::Loop(6), A::Loop(3)}};
                    return c.Generic({input, grad}, {g.batch, g.h.out, g.w.out}, ReduceKind::kSum,
                                     out, Product);
                  }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& x = c.in(0);
          const Literal& dy = c.in(1);
          Literal& df = c.out();
          return ConvKernel(c, x.shape, df.shape, [&](int64_t xi, int64_t fi, int64_t yi) {
            df.values[fi] += x.values[xi] * dy.values[yi];
          });
        }));

}  // namespace

namespace ops {

Tensor Conv2D(Tensor input, Tensor filter, const Conv2DOptions& options, SourceLoc loc) {
  return ops_internal::AddOp1("Conv2D", {input, filter}, ConvAttrs(options), loc);
}

Tensor Conv2DBackpropInput(Tensor grad, Tensor filter, Shape input_shape,
                           const Conv2DOptions& options, SourceLoc loc) {
  AttrMap attrs = ConvAttrs(options);
  attrs.emplace("input_shape", std::move(input_shape));
  return ops_internal::AddOp1("Conv2DBackpropInput", {grad, filter}, std::move(attrs), loc);
}

Tensor Conv2DBackpropFilter(Tensor input, Tensor grad, Shape filter_shape,
                            const Conv2DOptions& options, SourceLoc loc) {
  AttrMap attrs = ConvAttrs(options);
  attrs.emplace("filter_shape", std::move(filter_shape));
  return ops_internal::AddOp1("Conv2DBackpropFilter", {input, grad}, std::move(attrs), loc);
}

}  // namespace ops
KILN_OP_FAMILY(Conv);

}  // namespace kiln
