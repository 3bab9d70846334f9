// Sliding-window geometry shared by the convolutions (conv.cc) and the pools (pool.cc): validation
// of their shapes and attributes, NHWC offsets, and the padding their lowerings read through. Not
// part of the public API.
#ifndef KILN_GRAPH_OPS_WINDOW_H_
#define KILN_GRAPH_OPS_WINDOW_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/lowering.h"
#include "graph/types.h"

namespace kiln {
namespace ops_internal {

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

// NHWC batch and channels plus the two spatial windows.
struct Geometry {
  int64_t batch = 0;
  int64_t channels = 0;
  int64_t out_channels = 0;
  Window h, w;
  Shape OutputShape() const { return Shape({batch, h.out, w.out, out_channels}); }
};

// Validates a convolution of `input` [n,h,w,c] by `filter` [kh,kw,c,o] and its attributes (strides,
// dilations, padding, explicit_padding). Also run on attribute shapes (the backprops' input_shape
// and filter_shape), so it takes Shapes.
absl::StatusOr<Geometry> ConvGeometry(const Shape& input, const Shape& filter,
                                      const AttrMap& attrs);

// Validates a pool of `input` [n,h,w,c] and its attributes (ksize, strides, padding); out_channels
// is c.
absl::StatusOr<Geometry> PoolGeometry(const Shape& input, const AttrMap& attrs);

// Flat offset of NHWC element (n, y, x, 0) of a [.., height, width, channels] tensor.
inline int64_t Nhwc(int64_t n, int64_t y, int64_t x, int64_t height, int64_t width,
                    int64_t channels) {
  return ((n * height + y) * width + x) * channels;
}

// The padding after the input that the last window needs, at least 0 (input left over past it is
// simply not read).
int64_t PadAfter(const Window& w);

// NHWC x padded with `value` so that every tap of g's windows lies inside it (extra input past the
// last window is left alone).
IrValue PadForWindows(LoweringContext& c, IrValue x, const Geometry& g, double value);

}  // namespace ops_internal
}  // namespace kiln

#endif  // KILN_GRAPH_OPS_WINDOW_H_
