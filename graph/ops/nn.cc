// Neural-network ops: MatMul and BatchMatMul, Conv2D and its two backprops, max and average pooling
// with their gradients, Softmax, LogSoftmax and the softmax cross-entropy losses.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions
using Ints = std::vector<int64_t>;
using TypesOr = absl::StatusOr<std::vector<TensorType>>;

// "[1,0,2]", matching Shape::ToString so messages read alike.
std::string IntsToString(const Ints& v) { return absl::StrCat("[", absl::StrJoin(v, ","), "]"); }

absl::Status RequireFloat(const TensorType& t, const std::string& what) {
  if (IsFloat(t.dtype)) return absl::OkStatus();
  return InvalidArgument(absl::StrCat(what, " must be floating point, got ", t.ToString()));
}

absl::Status RequireSameDType(const TensorType& a, const TensorType& b) {
  if (a.dtype == b.dtype) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("dtypes differ: ", a.ToString(), " vs ", b.ToString()));
}

// ---- MatMul, BatchMatMul ----

// Shared by MatMul (rank 2 only) and BatchMatMul (leading batch dims broadcast, NumPy rules).
ShapeFn MatMulShape(bool batched) {
  return [batched](const InferContext& c) -> TypesOr {
    const TensorType& a = c.inputs[0];
    const TensorType& b = c.inputs[1];
    if (absl::Status s = RequireSameDType(a, b); !s.ok()) return s;
    if (a.dtype == DType::kBool) {
      return InvalidArgument(absl::StrCat("expects numeric inputs, got ", a.ToString()));
    }
    const int ra = a.shape.rank();
    const int rb = b.shape.rank();
    if (!batched && (ra != 2 || rb != 2)) {
      return InvalidArgument(absl::StrCat("expects rank-2 inputs, got ", a.ToString(), " and ",
                                          b.ToString(), " (BatchMatMul multiplies batches)"));
    }
    if (batched && (ra < 2 || rb < 2)) {
      return InvalidArgument(absl::StrCat("expects inputs of rank >= 2, got ", a.ToString(),
                                          " and ", b.ToString()));
    }
    const bool ta = c.attr<bool>("transpose_a");
    const bool tb = c.attr<bool>("transpose_b");
    const int64_t m = a.shape[ra - (ta ? 1 : 2)];
    const int64_t ka = a.shape[ra - (ta ? 2 : 1)];
    const int64_t kb = b.shape[rb - (tb ? 1 : 2)];
    const int64_t n = b.shape[rb - (tb ? 2 : 1)];
    if (ka != kb) {
      return InvalidArgument(absl::StrCat("inner dimensions differ: ", a.shape.ToString(),
                                          ta ? "^T" : "", " x ", b.shape.ToString(),
                                          tb ? "^T" : "", " (", ka, " vs ", kb, ")"));
    }
    const Shape a_batch(Ints(a.shape.dims().begin(), a.shape.dims().end() - 2));
    const Shape b_batch(Ints(b.shape.dims().begin(), b.shape.dims().end() - 2));
    absl::StatusOr<Shape> batch = BroadcastShapes(a_batch, b_batch);
    if (!batch.ok()) {
      return InvalidArgument(absl::StrCat("batch dimensions do not broadcast: ", a.ToString(),
                                          " x ", b.ToString()));
    }
    Ints dims = batch->dims();
    dims.push_back(m);
    dims.push_back(n);
    return std::vector<TensorType>{{a.dtype, Shape(dims)}};
  };
}

absl::Status MatMulKernel(KernelContext& c) {
  const Literal& a = c.in(0);
  const Literal& b = c.in(1);
  Literal& y = c.out();
  const bool ta = c.attr<bool>("transpose_a");
  const bool tb = c.attr<bool>("transpose_b");
  const int ra = a.shape.rank();
  const int rb = b.shape.rank();
  const int ry = y.shape.rank();
  const int64_t a_rows = a.shape[ra - 2], a_cols = a.shape[ra - 1];
  const int64_t b_rows = b.shape[rb - 2], b_cols = b.shape[rb - 1];
  const int64_t m = y.shape[ry - 2], n = y.shape[ry - 1];
  const int64_t k = ta ? a_rows : a_cols;
  const Shape batch(Ints(y.shape.dims().begin(), y.shape.dims().end() - 2));
  const Shape a_batch(Ints(a.shape.dims().begin(), a.shape.dims().end() - 2));
  const Shape b_batch(Ints(b.shape.dims().begin(), b.shape.dims().end() - 2));
  const Ints ia = BroadcastIndexMap(a_batch, batch);
  const Ints ib = BroadcastIndexMap(b_batch, batch);
  for (int64_t bi = 0; bi < batch.NumElements(); ++bi) {
    const double* pa = a.values.data() + ia[bi] * a_rows * a_cols;
    const double* pb = b.values.data() + ib[bi] * b_rows * b_cols;
    double* py = y.values.data() + bi * m * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0;
        for (int64_t l = 0; l < k; ++l) {
          sum += (ta ? pa[l * a_cols + i] : pa[i * a_cols + l]) *
                 (tb ? pb[j * b_cols + l] : pb[l * b_cols + j]);
        }
        py[i * n + j] = sum;
      }
    }
  }
  return absl::OkStatus();
}

// C = op(A) op(B): each case is itself a product with transpose flags, so the rule is
// differentiable.
// BatchMatMul's results have the broadcast batch shape; autodiff sums them back to each input's.
GradFn MatMulGrad(bool batched) {
  return [batched](const GradContext& c) {
    auto mm = [batched](const Tensor& x, const Tensor& y, bool tx, bool ty) {
      return batched ? ops::BatchMatMul(x, y, tx, ty) : ops::MatMul(x, y, tx, ty);
    };
    const Tensor& a = c.inputs[0];
    const Tensor& b = c.inputs[1];
    const Tensor& g = c.output_grads[0];
    const bool ta = c.attr<bool>("transpose_a");
    const bool tb = c.attr<bool>("transpose_b");
    if (!ta && !tb) return std::vector<Tensor>{mm(g, b, false, true), mm(a, g, true, false)};
    if (!ta && tb) return std::vector<Tensor>{mm(g, b, false, false), mm(g, a, true, false)};
    if (ta && !tb) return std::vector<Tensor>{mm(b, g, false, true), mm(a, g, false, false)};
    return std::vector<Tensor>{mm(b, g, true, true), mm(g, a, true, true)};
  };
}

OpDef MatMulDef(const std::string& name, const std::string& doc, bool batched) {
  return OpDef(name).Doc(doc).Inputs({"a", "b"})
      .Attr("transpose_a", AttrType::kBool, false)
      .Attr("transpose_b", AttrType::kBool, false)
      .Shape(MatMulShape(batched))
      .Grad(MatMulGrad(batched))
      .Kernel(MatMulKernel);
}

KILN_REGISTER_OP(MatMulDef("MatMul", "[m,k] x [k,n] after optional transposes", false)
    .Lower([](LoweringContext& c) {
      c.SetOutput(0, c.MatMul(c.input(0), c.input(1), c.node().attr<bool>("transpose_a"),
                              c.node().attr<bool>("transpose_b"), c.node().outputs[0]));
      return absl::OkStatus();
    }));

IrValue Product(ScalarBuilder& b, const std::vector<IrValue>& x) {
  return b.Apply(ScalarOp::kMul, x[0], x[1]);
}

// A contraction over k; an operand's size-1 batch dim is read at 0 (broadcast).
absl::Status BatchMatMulLowering(LoweringContext& c) {
  const TensorType& out = c.node().outputs[0];
  const int batch = out.shape.rank() - 2;
  const int m = batch, n = batch + 1, k = batch + 2;  // loops
  auto operand = [&](int i, bool transposed, int rows, int cols) {
    const Shape& s = c.input_type(i).shape;
    const int own_batch = s.rank() - 2;
    GenericInput in{c.input(i), {}};
    for (int d = 0; d < own_batch; ++d) {
      const int loop = batch - own_batch + d;
      const bool broadcast = s[d] == 1 && out.shape[loop] != 1;
      in.index.push_back(broadcast ? AffineIndex::Fixed(0) : AffineIndex::Loop(loop));
    }
    in.index.push_back(AffineIndex::Loop(transposed ? cols : rows));
    in.index.push_back(AffineIndex::Loop(transposed ? rows : cols));
    return in;
  };
  const bool ta = c.node().attr<bool>("transpose_a");
  const bool tb = c.node().attr<bool>("transpose_b");
  const Shape& a = c.input_type(0).shape;
  const int64_t depth = a[a.rank() - (ta ? 2 : 1)];
  auto loops = [&] {
    return c.Generic({operand(0, ta, m, k), operand(1, tb, k, n)}, {depth}, ReduceKind::kSum, out, Product);
  };
  // Without broadcasting, the batch dims flatten into one: a library's batched matmul.
  const Shape& b = c.input_type(1).shape;
  if (a.rank() != out.shape.rank() || b.rank() != out.shape.rank()) {
    c.SetOutput(0, loops());
    return absl::OkStatus();
  }
  int64_t batches = 1;
  for (int d = 0; d < batch; ++d) {
    if (a[d] != out.shape[d] || b[d] != out.shape[d]) {
      c.SetOutput(0, loops());
      return absl::OkStatus();
    }
    batches *= out.shape[d];
  }
  c.SetOutput(0, c.LibraryCall(LibraryKernel::kBatchMatMul,
                               {batches, out.shape[batch], out.shape[batch + 1], depth, ta, tb},
                               {c.input(0), c.input(1)}, out, loops));
  return absl::OkStatus();
}

KILN_REGISTER_OP(MatMulDef(
    "BatchMatMul",
    "[...,m,k] x [...,k,n] after optional transposes of the last two dims; batch dims broadcast",
    true)
    .Lower(BatchMatMulLowering));

// ---- Window geometry shared by convolutions and pools ----

// One spatial dimension of a sliding window: input position of output o's tap t is
// o * stride - pad_before + t * dilation (taps outside [0, in) read padding).
struct Window {
  int64_t in = 0;
  int64_t k = 0;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t pad_before = 0;
  int64_t out = 0;
  int64_t Input(int64_t o, int64_t t) const { return o * stride - pad_before + t * dilation; }
};

// TensorFlow's semantics: SAME gives ceil(in / stride) outputs with the padding split evenly (the
// extra element after); VALID and EXPLICIT slide over the (explicitly) padded input.
absl::StatusOr<Window> MakeWindow(const std::string& dim, int64_t in, int64_t k, int64_t stride,
                                  int64_t dilation, const std::string& padding, int64_t pad_lo,
                                  int64_t pad_hi) {
  Window w;
  w.in = in;
  w.k = k;
  w.stride = stride;
  w.dilation = dilation;
  const int64_t k_eff = (k - 1) * dilation + 1;
  int64_t pad_total = pad_lo + pad_hi;
  if (padding == "SAME") {
    w.out = (in + stride - 1) / stride;
    pad_total = std::max<int64_t>((w.out - 1) * stride + k_eff - in, 0);
    w.pad_before = pad_total / 2;
  } else {
    w.pad_before = pad_lo;
    const int64_t padded = in + pad_total;
    w.out = padded >= k_eff ? (padded - k_eff) / stride + 1 : 0;
  }
  if (w.out <= 0) {
    return InvalidArgument(absl::StrCat(
        "output ", dim, " would be ", w.out, ": input ", dim, " ", in, " with padding ", pad_total,
        " (", padding, ") is smaller than the window of ", k,
        dilation > 1 ? absl::StrCat(" dilated to ", k_eff) : "", " (stride ", stride, ")"));
  }
  return w;
}

// A {h, w} list attribute of positive ints.
absl::Status CheckPair(const std::string& name, const Ints& v) {
  if (v.size() != 2) {
    return InvalidArgument(absl::StrCat(name, " must have 2 elements {h, w}, got ", v.size(), ": ",
                                        IntsToString(v)));
  }
  if (v[0] <= 0 || v[1] <= 0) {
    return InvalidArgument(absl::StrCat(name, " must be positive, got ", IntsToString(v)));
  }
  return absl::OkStatus();
}

// Attribute shapes (input_shape) may hold anything; tensor shapes are never negative.
absl::Status CheckDims(const Shape& s) {
  for (int64_t d : s.dims()) {
    if (d < 0) return InvalidArgument(absl::StrCat("negative dimension in input ", s.ToString()));
  }
  return absl::OkStatus();
}

absl::Status CheckRank4(const Shape& s, const std::string& what) {
  if (s.rank() == 4) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("expects a rank-4 ", what, ", got ", s.ToString()));
}

// NHWC batch and channels plus the two spatial windows.
struct Geometry {
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t out_channels = 0;
  Window h, w;
  Shape OutputShape() const { return Shape({batch, h.out, w.out, out_channels}); }
};

template <typename T>
const T& AttrOf(const AttrMap& attrs, const std::string& name) {
  return std::get<T>(attrs.at(name));
}

// Validates a convolution of `input` [n,h,w,c] by `filter` [kh,kw,c,o] and its attributes. Also run
// on attribute shapes (the backprops' input_shape and filter_shape), so it takes Shapes.
absl::StatusOr<Geometry> ConvGeometry(const Shape& input, const Shape& filter,
                                      const AttrMap& attrs) {
  if (absl::Status s = CheckRank4(input, "NHWC input [n,h,w,c]"); !s.ok()) return s;
  if (absl::Status s = CheckRank4(filter, "HWIO filter [kh,kw,c,o]"); !s.ok()) return s;
  if (absl::Status s = CheckDims(input); !s.ok()) return s;
  if (filter[0] <= 0 || filter[1] <= 0 || filter[3] < 0) {
    return InvalidArgument(absl::StrCat("filter window must be at least 1x1, got filter ",
                                        filter.ToString()));
  }
  if (input[3] != filter[2]) {
    return InvalidArgument(absl::StrCat("input has ", input[3], " channels but the filter expects ",
                                        filter[2], ": input ", input.ToString(), ", filter ",
                                        filter.ToString()));
  }
  const Ints& strides = AttrOf<Ints>(attrs, "strides");
  const Ints& dilations = AttrOf<Ints>(attrs, "dilations");
  const std::string& padding = AttrOf<std::string>(attrs, "padding");
  const Ints& explicit_padding = AttrOf<Ints>(attrs, "explicit_padding");
  if (absl::Status s = CheckPair("strides", strides); !s.ok()) return s;
  if (absl::Status s = CheckPair("dilations", dilations); !s.ok()) return s;
  if (padding != "VALID" && padding != "SAME" && padding != "EXPLICIT") {
    return InvalidArgument(
        absl::StrCat("padding must be VALID, SAME or EXPLICIT, got '", padding, "'"));
  }
  Ints pads = {0, 0, 0, 0};
  if (padding == "EXPLICIT") {
    if (explicit_padding.size() != 4) {
      return InvalidArgument(absl::StrCat(
          "explicit_padding must have 4 elements {top, bottom, left, right}, got ",
          explicit_padding.size(), ": ", IntsToString(explicit_padding)));
    }
    for (int64_t p : explicit_padding) {
      if (p < 0) {
        return InvalidArgument(absl::StrCat("explicit_padding must be non-negative, got ",
                                            IntsToString(explicit_padding)));
      }
    }
    pads = explicit_padding;
  } else if (!explicit_padding.empty()) {
    // Silently ignoring it would hide a forgotten padding = "EXPLICIT".
    return InvalidArgument(absl::StrCat("explicit_padding ", IntsToString(explicit_padding),
                                        " is only used with padding EXPLICIT, not ", padding));
  }
  Geometry g;
  g.batch = input[0];
  g.channels = input[3];
  g.out_channels = filter[3];
  absl::StatusOr<Window> h = MakeWindow("height", input[1], filter[0], strides[0], dilations[0],
                                        padding, pads[0], pads[1]);
  if (!h.ok()) return h.status();
  absl::StatusOr<Window> w = MakeWindow("width", input[2], filter[1], strides[1], dilations[1],
                                        padding, pads[2], pads[3]);
  if (!w.ok()) return w.status();
  g.h = *h;
  g.w = *w;
  return g;
}

// Validates a pool of `input` [n,h,w,c]; out_channels is c.
absl::StatusOr<Geometry> PoolGeometry(const Shape& input, const AttrMap& attrs) {
  if (absl::Status s = CheckRank4(input, "NHWC input [n,h,w,c]"); !s.ok()) return s;
  if (absl::Status s = CheckDims(input); !s.ok()) return s;
  const Ints& ksize = AttrOf<Ints>(attrs, "ksize");
  const Ints& strides = AttrOf<Ints>(attrs, "strides");
  const std::string& padding = AttrOf<std::string>(attrs, "padding");
  if (absl::Status s = CheckPair("ksize", ksize); !s.ok()) return s;
  if (absl::Status s = CheckPair("strides", strides); !s.ok()) return s;
  if (padding != "VALID" && padding != "SAME") {
    return InvalidArgument(absl::StrCat("padding must be VALID or SAME, got '", padding, "'"));
  }
  Geometry g;
  g.batch = input[0];
  g.channels = input[3];
  g.out_channels = input[3];
  absl::StatusOr<Window> h = MakeWindow("height", input[1], ksize[0], strides[0], 1, padding, 0, 0);
  if (!h.ok()) return h.status();
  absl::StatusOr<Window> w = MakeWindow("width", input[2], ksize[1], strides[1], 1, padding, 0, 0);
  if (!w.ok()) return w.status();
  g.h = *h;
  g.w = *w;
  return g;
}

// Flat offset of NHWC element (n, y, x, 0) of a [.., height, width, channels] tensor.
int64_t Nhwc(int64_t n, int64_t y, int64_t x, int64_t height, int64_t width, int64_t channels) {
  return ((n * height + y) * width + x) * channels;
}

// Calls f(n, oh, ow, kh, kw, ih, iw) for every tap that reads the input (not padding).
template <typename F>
void ForEachTap(const Geometry& g, F f) {
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t oh = 0; oh < g.h.out; ++oh) {
      for (int64_t ow = 0; ow < g.w.out; ++ow) {
        for (int64_t kh = 0; kh < g.h.k; ++kh) {
          const int64_t ih = g.h.Input(oh, kh);
          if (ih < 0 || ih >= g.h.in) continue;
          for (int64_t kw = 0; kw < g.w.k; ++kw) {
            const int64_t iw = g.w.Input(ow, kw);
            if (iw < 0 || iw >= g.w.in) continue;
            f(n, oh, ow, kh, kw, ih, iw);
          }
        }
      }
    }
  }
}

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

// ---- Lowering helpers for windows ----

// NHWC x padded with `value` so that every tap of g's windows lies inside it (extra input past the
// last window is left alone).
IrValue PadForWindows(LoweringContext& c, IrValue x, const Geometry& g, double value) {
  auto high = [](const Window& w) {
    const int64_t last_tap = (w.out - 1) * w.stride + (w.k - 1) * w.dilation;
    return std::max<int64_t>(0, last_tap + 1 - w.in - w.pad_before);
  };
  return c.Pad(x, {0, g.h.pad_before, g.w.pad_before, 0}, {0, high(g.h), high(g.w), 0}, value);
}

// Loops n, oh, ow, c | kh, kw read input (n, oh * stride + kh * dilation, ..., c).
GenericInput WindowInput(IrValue padded, const Geometry& g) {
  using A = AffineIndex;
  return {padded, {A::Loop(0), A::Loop(1, g.h.stride) + A::Loop(4, g.h.dilation),
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

// In a pool gradient's gather (loops n, ih, iw, c over the input | kh, kw over the taps): the window
// (n, oh, ow, c) whose tap (kh, kw) reads input (ih, iw), clamped into range, and whether it exists.
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
    IrValue num = b.Apply(ScalarOp::kSub, b.Apply(ScalarOp::kAdd, b.Index(position), i(w.pad_before)),
                          b.Apply(ScalarOp::kMul, b.Index(tap), i(w.dilation)));
    IrValue o = b.Apply(ScalarOp::kDiv, num, i(w.stride));
    IrValue ok = b.Apply(ScalarOp::kAnd, b.Apply(ScalarOp::kNot, b.Apply(ScalarOp::kLess, num, i(0))),
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

// ---- Conv2D and its backprops ----

// The convolution kernels' parameters (runtime/dnnl_kernels.h). The padding after is what the last
// window needs, at least 0 (input left over past it is simply not read).
std::vector<int64_t> ConvParams(const Geometry& g) {
  auto after = [](const Window& w) {
    return std::max<int64_t>(0, (w.out - 1) * w.stride + (w.k - 1) * w.dilation + 1 - w.in - w.pad_before);
  };
  return {g.batch,    g.h.in,     g.w.in,       g.channels,   g.h.k,         g.w.k,
          g.out_channels, g.h.out, g.w.out,     g.h.stride,   g.w.stride,    g.h.dilation,
          g.w.dilation, g.h.pad_before, g.w.pad_before, after(g.h), after(g.w)};
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
  return OpDef(name).Doc(doc)
      .Attr("strides", AttrType::kInts, Ints{1, 1})
      .Attr("dilations", AttrType::kInts, Ints{1, 1})
      .Attr("padding", AttrType::kString, std::string("VALID"))
      .Attr("explicit_padding", AttrType::kInts, Ints{});
}

// Two floating-point operands of one dtype (convolutions, MaxPool2DGrad).
absl::Status CheckFloatOperands(const TensorType& a, const TensorType& b,
                                const std::string& a_name, const std::string& b_name) {
  if (absl::Status s = RequireFloat(a, a_name); !s.ok()) return s;
  if (absl::Status s = RequireFloat(b, b_name); !s.ok()) return s;
  return RequireSameDType(a, b);
}

// The backprops' `grad` must be what Conv2D of those shapes produces.
absl::Status CheckConvGrad(const Geometry& g, const TensorType& grad, const Shape& input,
                           const Shape& filter) {
  if (grad.shape == g.OutputShape()) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("grad ", grad.ToString(),
                                      " does not match the Conv2D output ",
                                      g.OutputShape().ToString(), " of input ", input.ToString(),
                                      " and filter ", filter.ToString()));
}

KILN_REGISTER_OP(ConvDef("Conv2D", "NHWC input [n,h,w,c] convolved (cross-correlated) with HWIO "
                                   "filter [kh,kw,c,o] -> [n,oh,ow,o]")
    .Inputs({"input", "filter"})
    .Shape([](const InferContext& c) -> TypesOr {
      if (absl::Status s = CheckFloatOperands(c.inputs[0], c.inputs[1], "input", "filter");
          !s.ok()) {
        return s;
      }
      absl::StatusOr<Geometry> g = ConvGeometry(c.inputs[0].shape, c.inputs[1].shape, c.attrs);
      if (!g.ok()) return g.status();
      return std::vector<TensorType>{{c.inputs[0].dtype, g->OutputShape()}};
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
      absl::StatusOr<Geometry> g =
          ConvGeometry(c.input_type(0).shape, c.input_type(1).shape, c.node().attrs);
      if (!g.ok()) return g.status();
      c.SetOutput(0, c.LibraryCall(LibraryKernel::kConv2D, ConvParams(*g), {c.input(0), c.input(1)},
                                   c.node().outputs[0], [&c, g = *g] {
        using A = AffineIndex;
        GenericInput input{PadForWindows(c, c.input(0), g, 0),
                           {A::Loop(0), A::Loop(1, g.h.stride) + A::Loop(4, g.h.dilation),
                            A::Loop(2, g.w.stride) + A::Loop(5, g.w.dilation), A::Loop(6)}};
        GenericInput filter{c.input(1), {A::Loop(4), A::Loop(5), A::Loop(6), A::Loop(3)}};
        return c.Generic({input, filter}, {g.h.k, g.w.k, g.channels}, ReduceKind::kSum,
                         c.node().outputs[0], Product);
      }));
      return absl::OkStatus();
    })
    .Kernel([](KernelContext& c) {
      const Literal& x = c.in(0);
      const Literal& f = c.in(1);
      Literal& y = c.out();
      absl::StatusOr<Geometry> g = ConvGeometry(x.shape, f.shape, c.node.attrs);
      if (!g.ok()) return g.status();
      const int64_t ci = g->channels, co = g->out_channels;
      std::fill(y.values.begin(), y.values.end(), 0.0);
      ForEachTap(*g, [&](int64_t n, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih,
                         int64_t iw) {
        const double* px = x.values.data() + Nhwc(n, ih, iw, g->h.in, g->w.in, ci);
        const double* pf = f.values.data() + (kh * g->w.k + kw) * ci * co;
        double* py = y.values.data() + Nhwc(n, oh, ow, g->h.out, g->w.out, co);
        for (int64_t i = 0; i < ci; ++i) {
          for (int64_t o = 0; o < co; ++o) py[o] += px[i] * pf[i * co + o];
        }
      });
      return absl::OkStatus();
    }));

// Conv2DBackpropInput in loops: a stride-1 convolution of the gradient, dilated by the strides
// (zeros between its elements) and padded (or cropped) by (k - 1) * dilation - pad_before, with the
// filter flipped spatially: dx[i] = sum_t D[i + pad_before - t * dilation] f[t].
IrValue BackpropInputLoops(LoweringContext& c, const Geometry& geometry, const TensorType& out) {
  const Geometry* g = &geometry;  // as in the other lowerings, which hold a StatusOr
  const TensorType& grad = c.input_type(0);
  IrValue dilated = c.input(0);
  const int64_t rows = (g->h.out - 1) * g->h.stride + 1, cols = (g->w.out - 1) * g->w.stride + 1;
  if (g->h.stride > 1 || g->w.stride > 1) {
    IrValue zeros = c.Fill(0, {grad.dtype, Shape({g->batch, rows, cols, g->out_channels})});
    dilated = c.InsertSlice(dilated, zeros, {0, 0, 0, 0}, {1, g->h.stride, g->w.stride, 1});
  }
  auto low = [](const Window& w) { return (w.k - 1) * w.dilation - w.pad_before; };
  auto high = [&](const Window& w, int64_t length) {
    return w.in + (w.k - 1) * w.dilation - low(w) - length;
  };
  IrValue padded = PadOrCrop(c, dilated, {0, low(g->h), low(g->w), 0},
                             {0, high(g->h, rows), high(g->w, cols), 0}, 0);
  // Loops n, ih, iw, ci | kh, kw, co.
  using A = AffineIndex;
  GenericInput input{padded, {A::Loop(0), A::Loop(1) + A::Loop(4, g->h.dilation),
                              A::Loop(2) + A::Loop(5, g->w.dilation), A::Loop(6)}};
  GenericInput filter{c.input(1), {A::Loop(4, -1) + (g->h.k - 1), A::Loop(5, -1) + (g->w.k - 1),
                                   A::Loop(3), A::Loop(6)}};
  return c.Generic({input, filter}, {g->h.k, g->w.k, g->out_channels}, ReduceKind::kSum, out, Product);
}

// Conv2D is bilinear: <G, Conv2D(X, F)> defines both backprops, and differentiating that pairing
// again gives each backprop's gradients as the other two convolutions.
KILN_REGISTER_OP(ConvDef("Conv2DBackpropInput",
                         "gradient of Conv2D with respect to its input (of shape input_shape), "
                         "given grad [n,oh,ow,o] and the filter")
    .Inputs({"grad", "filter"})
    .Attr("input_shape", AttrType::kShape)
    .Shape([](const InferContext& c) -> TypesOr {
      if (absl::Status s = CheckFloatOperands(c.inputs[0], c.inputs[1], "grad", "filter");
          !s.ok()) {
        return s;
      }
      const Shape& input = c.attr<Shape>("input_shape");
      absl::StatusOr<Geometry> g = ConvGeometry(input, c.inputs[1].shape, c.attrs);
      if (!g.ok()) return g.status();
      if (absl::Status s = CheckConvGrad(*g, c.inputs[0], input, c.inputs[1].shape); !s.ok()) {
        return s;
      }
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
      absl::StatusOr<Geometry> g = ConvGeometry(out.shape, c.input_type(1).shape, c.node().attrs);
      if (!g.ok()) return g.status();
      c.SetOutput(0, c.LibraryCall(LibraryKernel::kConv2DBackpropInput, ConvParams(*g),
                                   {c.input(0), c.input(1)}, out, [&c, &out, g = *g] {
        return BackpropInputLoops(c, g, out);
      }));
      return absl::OkStatus();
    })
    .Kernel([](KernelContext& c) {
      const Literal& dy = c.in(0);
      const Literal& f = c.in(1);
      Literal& dx = c.out();
      absl::StatusOr<Geometry> g = ConvGeometry(dx.shape, f.shape, c.node.attrs);
      if (!g.ok()) return g.status();
      const int64_t ci = g->channels, co = g->out_channels;
      std::fill(dx.values.begin(), dx.values.end(), 0.0);
      ForEachTap(*g, [&](int64_t n, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih,
                         int64_t iw) {
        double* px = dx.values.data() + Nhwc(n, ih, iw, g->h.in, g->w.in, ci);
        const double* pf = f.values.data() + (kh * g->w.k + kw) * ci * co;
        const double* py = dy.values.data() + Nhwc(n, oh, ow, g->h.out, g->w.out, co);
        for (int64_t i = 0; i < ci; ++i) {
          for (int64_t o = 0; o < co; ++o) px[i] += py[o] * pf[i * co + o];
        }
      });
      return absl::OkStatus();
    }));

KILN_REGISTER_OP(ConvDef("Conv2DBackpropFilter",
                         "gradient of Conv2D with respect to its filter (of shape filter_shape), "
                         "given the input and grad [n,oh,ow,o]")
    .Inputs({"input", "grad"})
    .Attr("filter_shape", AttrType::kShape)
    .Shape([](const InferContext& c) -> TypesOr {
      if (absl::Status s = CheckFloatOperands(c.inputs[0], c.inputs[1], "input", "grad"); !s.ok()) {
        return s;
      }
      const Shape& filter = c.attr<Shape>("filter_shape");
      absl::StatusOr<Geometry> g = ConvGeometry(c.inputs[0].shape, filter, c.attrs);
      if (!g.ok()) return g.status();
      if (absl::Status s = CheckConvGrad(*g, c.inputs[1], c.inputs[0].shape, filter); !s.ok()) {
        return s;
      }
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
      absl::StatusOr<Geometry> g = ConvGeometry(c.input_type(0).shape, out.shape, c.node().attrs);
      if (!g.ok()) return g.status();
      c.SetOutput(0, c.LibraryCall(LibraryKernel::kConv2DBackpropFilter, ConvParams(*g),
                                   {c.input(0), c.input(1)}, out, [&c, &out, g = *g] {
        using A = AffineIndex;
        GenericInput input{PadForWindows(c, c.input(0), g, 0),
                           {A::Loop(4), A::Loop(5, g.h.stride) + A::Loop(0, g.h.dilation),
                            A::Loop(6, g.w.stride) + A::Loop(1, g.w.dilation), A::Loop(2)}};
        GenericInput grad{c.input(1), {A::Loop(4), A::Loop(5), A::Loop(6), A::Loop(3)}};
        return c.Generic({input, grad}, {g.batch, g.h.out, g.w.out}, ReduceKind::kSum, out, Product);
      }));
      return absl::OkStatus();
    })
    .Kernel([](KernelContext& c) {
      const Literal& x = c.in(0);
      const Literal& dy = c.in(1);
      Literal& df = c.out();
      absl::StatusOr<Geometry> g = ConvGeometry(x.shape, df.shape, c.node.attrs);
      if (!g.ok()) return g.status();
      const int64_t ci = g->channels, co = g->out_channels;
      std::fill(df.values.begin(), df.values.end(), 0.0);
      ForEachTap(*g, [&](int64_t n, int64_t oh, int64_t ow, int64_t kh, int64_t kw, int64_t ih,
                         int64_t iw) {
        const double* px = x.values.data() + Nhwc(n, ih, iw, g->h.in, g->w.in, ci);
        double* pf = df.values.data() + (kh * g->w.k + kw) * ci * co;
        const double* py = dy.values.data() + Nhwc(n, oh, ow, g->h.out, g->w.out, co);
        for (int64_t i = 0; i < ci; ++i) {
          for (int64_t o = 0; o < co; ++o) pf[i * co + o] += px[i] * py[o];
        }
      });
      return absl::OkStatus();
    }));

// ---- Pools ----

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
  return OpDef(name).Doc(doc)
      .Attr("ksize", AttrType::kInts, Ints{2, 2})
      .Attr("strides", AttrType::kInts, Ints{2, 2})
      .Attr("padding", AttrType::kString, std::string("VALID"));
}

ShapeFn PoolShape() {
  return [](const InferContext& c) -> TypesOr {
    if (absl::Status s = RequireFloat(c.inputs[0], "input"); !s.ok()) return s;
    absl::StatusOr<Geometry> g = PoolGeometry(c.inputs[0].shape, c.attrs);
    if (!g.ok()) return g.status();
    return std::vector<TensorType>{{c.inputs[0].dtype, g->OutputShape()}};
  };
}

// The pool gradients' `grad` must be what the pool of `input` produces.
absl::Status CheckPoolGrad(const Geometry& g, const TensorType& grad, const Shape& input) {
  if (grad.shape == g.OutputShape()) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("grad ", grad.ToString(), " does not match the pool output ",
                                      g.OutputShape().ToString(), " of input ", input.ToString()));
}

KILN_REGISTER_OP(PoolDef("MaxPool2D", "maximum over each ksize window of NHWC input (padding is "
                                      "never the maximum)")
    .Inputs({"input"})
    .Shape(PoolShape())
    .Grad([](const GradContext& c) {
      return std::vector<Tensor>{
          ops::MaxPool2DGrad(c.inputs[0], c.output_grads[0], PoolOptions(c))};
    })
    .Lower([](LoweringContext& c) {
      // -inf padding is never the maximum.
      absl::StatusOr<Geometry> g = PoolGeometry(c.input_type(0).shape, c.node().attrs);
      if (!g.ok()) return g.status();
      c.SetOutput(0, WindowReduce(c, PadForWindows(c, c.input(0), *g, -INFINITY), *g, ReduceKind::kMax,
                                  c.node().outputs[0]));
      return absl::OkStatus();
    })
    .Kernel([](KernelContext& c) {
      const Literal& x = c.in(0);
      Literal& y = c.out();
      absl::StatusOr<Geometry> g = PoolGeometry(x.shape, c.node.attrs);
      if (!g.ok()) return g.status();
      ForEachPoolWindow(*g, [&](int64_t out, const std::vector<int64_t>& in) {
        y.values[out] = x.values[ArgMaxOf(x, in)];
      });
      return absl::OkStatus();
    }));

KILN_REGISTER_OP(PoolDef("AvgPool2D", "mean over each ksize window of NHWC input (SAME averages "
                                      "only the input elements, not the padding)")
    .Inputs({"input"})
    .Shape(PoolShape())
    .Grad([](const GradContext& c) {
      return std::vector<Tensor>{
          ops::AvgPool2DGrad(c.output_grads[0], c.inputs[0].shape(), PoolOptions(c))};
    })
    .Lower([](LoweringContext& c) {
      // Window sums over zero padding, divided by each window's count of input elements.
      const TensorType& out = c.node().outputs[0];
      absl::StatusOr<Geometry> g = PoolGeometry(c.input_type(0).shape, c.node().attrs);
      if (!g.ok()) return g.status();
      IrValue sums = WindowReduce(c, PadForWindows(c, c.input(0), *g, 0), *g, ReduceKind::kSum, out);
      c.SetOutput(0, c.Elementwise({sums, c.Constant(WindowCounts(*g, out.dtype))}, out,
                                   [](ScalarBuilder& b, const std::vector<IrValue>& x) {
                                     return b.Apply(ScalarOp::kDiv, x[0], x[1]);
                                   }));
      return absl::OkStatus();
    })
    .Kernel([](KernelContext& c) {
      const Literal& x = c.in(0);
      Literal& y = c.out();
      absl::StatusOr<Geometry> g = PoolGeometry(x.shape, c.node.attrs);
      if (!g.ok()) return g.status();
      ForEachPoolWindow(*g, [&](int64_t out, const std::vector<int64_t>& in) {
        double sum = 0;
        for (int64_t i : in) sum += x.values[i];
        y.values[out] = sum / static_cast<double>(in.size());
      });
      return absl::OkStatus();
    }));

KILN_REGISTER_OP(PoolDef("MaxPool2DGrad", "gradient of MaxPool2D: grad routed to each window's "
                                          "first maximum of input (summed where windows share it)")
    .Inputs({"input", "grad"})
    .Shape([](const InferContext& c) -> TypesOr {
      if (absl::Status s = CheckFloatOperands(c.inputs[0], c.inputs[1], "input", "grad"); !s.ok()) {
        return s;
      }
      absl::StatusOr<Geometry> g = PoolGeometry(c.inputs[0].shape, c.attrs);
      if (!g.ok()) return g.status();
      if (absl::Status s = CheckPoolGrad(*g, c.inputs[1], c.inputs[0].shape); !s.ok()) return s;
      return std::vector<TensorType>{c.inputs[0]};
    })
    // d/d(grad) reads the upstream gradient at each window's argmax: a per-window gather that no
    // registered op expresses (it would need a MaxPool2DGradGrad op).
    .NotDifferentiable("second-order max pooling is not supported: the gradient with respect to "
                       "grad needs a gather at each window's argmax")
    .Lower([](LoweringContext& c) {
      // Each window's first maximum (its smallest row-major tap equal to the maximum), then each
      // input element gathers the gradient of the windows whose first maximum it is.
      const TensorType& x = c.input_type(0);
      absl::StatusOr<Geometry> g = PoolGeometry(x.shape, c.node().attrs);
      if (!g.ok()) return g.status();
      IrValue padded = PadForWindows(c, c.input(0), *g, -INFINITY);
      IrValue max = WindowReduce(c, padded, *g, ReduceKind::kMax, {x.dtype, g->OutputShape()});
      const int64_t kw = g->w.k, taps = g->h.k * g->w.k;
      IrValue first = c.Generic(
          {WindowInput(padded, *g), {max, AffineIndex::Loops(0, 4)}}, {g->h.k, g->w.k}, ReduceKind::kMin,
          {DType::kI64, g->OutputShape()}, [kw, taps](ScalarBuilder& b, const std::vector<IrValue>& v) {
            IrValue row = b.Apply(ScalarOp::kMul, b.Index(4), b.IndexConstant(kw));
            IrValue tap = b.Apply(ScalarOp::kAdd, row, b.Index(5));
            return b.Select(b.Apply(ScalarOp::kEqual, v[0], v[1]), b.Convert(tap, DType::kI64),
                            b.IntConstant(taps, DType::kI64));
          });
      IrValue grad = c.input(1);
      const Geometry geometry = *g;
      c.SetOutput(0, c.Generic({}, {g->h.k, g->w.k}, ReduceKind::kSum, x,
                               [=](ScalarBuilder& b, const std::vector<IrValue>&) {
                                 SourceWindow w = FindSourceWindow(b, geometry);
                                 IrValue is_first = b.Apply(ScalarOp::kEqual, b.Extract(first, w.at),
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
      absl::StatusOr<Geometry> g = PoolGeometry(x.shape, c.node.attrs);
      if (!g.ok()) return g.status();
      std::fill(dx.values.begin(), dx.values.end(), 0.0);
      ForEachPoolWindow(*g, [&](int64_t out, const std::vector<int64_t>& in) {
        dx.values[ArgMaxOf(x, in)] += dy.values[out];
      });
      return absl::OkStatus();
    }));

// AvgPool2DGrad is linear in grad and the adjoint of AvgPool2D, so its gradient is AvgPool2D.
KILN_REGISTER_OP(PoolDef("AvgPool2DGrad", "gradient of AvgPool2D: each grad element spread evenly "
                                          "over its window's input elements (of input_shape)")
    .Inputs({"grad"})
    .Attr("input_shape", AttrType::kShape)
    .Shape([](const InferContext& c) -> TypesOr {
      if (absl::Status s = RequireFloat(c.inputs[0], "grad"); !s.ok()) return s;
      const Shape& input = c.attr<Shape>("input_shape");
      absl::StatusOr<Geometry> g = PoolGeometry(input, c.attrs);
      if (!g.ok()) return g.status();
      if (absl::Status s = CheckPoolGrad(*g, c.inputs[0], input); !s.ok()) return s;
      return std::vector<TensorType>{{c.inputs[0].dtype, input}};
    })
    .Grad([](const GradContext& c) {
      return std::vector<Tensor>{ops::AvgPool2D(c.output_grads[0], PoolOptions(c))};
    })
    .Lower([](LoweringContext& c) {
      // Each window's share (grad / count), gathered by the input elements its taps read.
      const TensorType& out = c.node().outputs[0];
      const TensorType& grad = c.input_type(0);
      absl::StatusOr<Geometry> g = PoolGeometry(out.shape, c.node().attrs);
      if (!g.ok()) return g.status();
      IrValue share = c.Elementwise({c.input(0), c.Constant(WindowCounts(*g, grad.dtype))}, grad,
                                    [](ScalarBuilder& b, const std::vector<IrValue>& x) {
                                      return b.Apply(ScalarOp::kDiv, x[0], x[1]);
                                    });
      const Geometry geometry = *g;
      const DType dtype = out.dtype;
      c.SetOutput(0, c.Generic({}, {g->h.k, g->w.k}, ReduceKind::kSum, out,
                               [=](ScalarBuilder& b, const std::vector<IrValue>&) {
                                 SourceWindow w = FindSourceWindow(b, geometry);
                                 return b.Select(w.exists, b.Extract(share, w.at), b.Constant(0, dtype));
                               }));
      return absl::OkStatus();
    })
    .Kernel([](KernelContext& c) {
      const Literal& dy = c.in(0);
      Literal& dx = c.out();
      absl::StatusOr<Geometry> g = PoolGeometry(dx.shape, c.node.attrs);
      if (!g.ok()) return g.status();
      std::fill(dx.values.begin(), dx.values.end(), 0.0);
      ForEachPoolWindow(*g, [&](int64_t out, const std::vector<int64_t>& in) {
        const double share = dy.values[out] / static_cast<double>(in.size());
        for (int64_t i : in) dx.values[i] += share;
      });
      return absl::OkStatus();
    }));

// ---- Softmax and losses ----

ShapeFn SoftmaxShape() {
  return [](const InferContext& c) -> TypesOr {
    if (absl::Status s = RequireFloat(c.inputs[0], "logits"); !s.ok()) return s;
    absl::StatusOr<int64_t> axis = NormalizeAxis(c.attr<int64_t>("axis"), c.inputs[0].shape.rank());
    if (!axis.ok()) return axis.status();
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
  IrValue shift = c.Elementwise({max}, kept_type, [](ScalarBuilder& b, const std::vector<IrValue>& m) {
    IrValue finite =
        b.Apply(ScalarOp::kLess, b.Apply(ScalarOp::kAbs, m[0]), b.ConstantLike(INFINITY, m[0]));
    return b.Select(finite, m[0], b.ConstantLike(0, m[0]));
  });
  IrValue exps = c.Elementwise({x, shift}, t, [](ScalarBuilder& b, const std::vector<IrValue>& v) {
    return b.Apply(ScalarOp::kExp, b.Apply(ScalarOp::kSub, v[0], v[1]));
  });
  IrValue sums = c.Reshape(c.Reduce(exps, {axis}, ReduceKind::kSum, reduced_type), kept_type.shape);
  return c.Elementwise({shift, sums}, kept_type, [](ScalarBuilder& b, const std::vector<IrValue>& v) {
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

KILN_REGISTER_OP(OpDef("Softmax").Doc("exp(x) / sum(exp(x)) along an axis, max-shifted for "
                                      "stability")
    .Inputs({"logits"}).Attr("axis", AttrType::kInt, int64_t{-1})
    .Shape(SoftmaxShape())
    .Grad([](const GradContext& c) {
      const Tensor& y = c.outputs[0];
      const Tensor& g = c.output_grads[0];
      const int64_t axis = c.attr<int64_t>("axis");
      return std::vector<Tensor>{y * (g - ops::ReduceSum(g * y, {axis}, true))};
    })
    .Lower(SoftmaxLowering(false))
    .Kernel(SoftmaxKernel(false)));

KILN_REGISTER_OP(OpDef("LogSoftmax").Doc("x - log(sum(exp(x))) along an axis, max-shifted for "
                                         "stability")
    .Inputs({"logits"}).Attr("axis", AttrType::kInt, int64_t{-1})
    .Shape(SoftmaxShape())
    .Grad([](const GradContext& c) {
      const Tensor& y = c.outputs[0];
      const Tensor& g = c.output_grads[0];
      const int64_t axis = c.attr<int64_t>("axis");
      return std::vector<Tensor>{g - ops::Exp(y) * ops::ReduceSum(g, {axis}, true)};
    })
    .Lower(SoftmaxLowering(true))
    .Kernel(SoftmaxKernel(true)));

absl::Status RequireLogits(const TensorType& logits) {
  if (absl::Status s = RequireFloat(logits, "logits"); !s.ok()) return s;
  if (logits.shape.rank() == 2) return absl::OkStatus();
  return InvalidArgument(absl::StrCat("logits must have rank 2 [n,c], got ", logits.ToString()));
}

// The per-example loss gradient g [n] as a column [n,1] that broadcasts over the classes.
Tensor GradColumn(const GradContext& c) {
  return ops::Reshape(c.output_grads[0], Shape({c.inputs[0].shape()[0], 1}));
}

KILN_REGISTER_OP(OpDef("SparseSoftmaxCrossEntropy")
    .Doc("per-example -log softmax(logits [n,c])[label] for integer labels [n] in [0, c); a label "
         "out of range is a run-time error")
    .Inputs({"logits", "labels"})
    .Shape([](const InferContext& c) -> TypesOr {
      const TensorType& logits = c.inputs[0];
      const TensorType& labels = c.inputs[1];
      if (absl::Status s = RequireLogits(logits); !s.ok()) return s;
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
      // lse - logits[i, label]. A label out of range is reported through the runtime; its loss is NaN
      // (as TensorFlow on GPUs), and the read is clamped.
      const TensorType& out = c.node().outputs[0];
      const int64_t rows = c.input_type(0).shape[0], classes = c.input_type(0).shape[1];
      if (classes == 0) {
        c.SetOutput(0, c.Fill(NAN, out));
        return absl::OkStatus();
      }
      IrValue logits = c.input(0);
      c.CheckIndices(c.input(1), classes, "label");
      IrValue lse = c.Reshape(LowerLogSumExp(c, logits, 1), Shape({rows}));
      c.SetOutput(0, c.Elementwise({lse, c.input(1)}, out,
                                   [logits, classes](ScalarBuilder& b, const std::vector<IrValue>& v) {
        IrValue label = b.ToIndex(v[1]);
        IrValue negative = b.Apply(ScalarOp::kLess, label, b.IndexConstant(0));
        IrValue valid = b.Apply(ScalarOp::kAnd, b.Apply(ScalarOp::kNot, negative),
                                b.Apply(ScalarOp::kLess, label, b.IndexConstant(classes)));
        IrValue picked = b.Extract(logits, {b.Index(0), b.ClampIndex(label, 0, classes - 1)});
        return b.Select(valid, b.Apply(ScalarOp::kSub, v[0], picked), b.ConstantLike(NAN, v[0]));
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
    .Doc("per-example -sum(labels * log softmax(logits)) for logits and label distributions [n,c]")
    .Inputs({"logits", "labels"})
    .Shape([](const InferContext& c) -> TypesOr {
      const TensorType& logits = c.inputs[0];
      const TensorType& labels = c.inputs[1];
      if (absl::Status s = RequireLogits(logits); !s.ok()) return s;
      if (absl::Status s = RequireSameDType(logits, labels); !s.ok()) return s;
      if (labels.shape != logits.shape) {
        return InvalidArgument(absl::StrCat("labels ", labels.ToString(),
                                            " must have the shape of logits ", logits.ToString()));
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

Tensor MatMul(Tensor a, Tensor b, bool transpose_a, bool transpose_b, SourceLoc loc) {
  return ops_internal::AddOp1("MatMul", {a, b},
                              {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}}, loc);
}

Tensor BatchMatMul(Tensor a, Tensor b, bool transpose_a, bool transpose_b, SourceLoc loc) {
  return ops_internal::AddOp1("BatchMatMul", {a, b},
                              {{"transpose_a", transpose_a}, {"transpose_b", transpose_b}}, loc);
}

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
}  // namespace kiln
