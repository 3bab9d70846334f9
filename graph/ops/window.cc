#include "graph/ops/window.h"

#include <algorithm>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/ops/op_util.h"
#include "graph/status_macros.h"

namespace kiln {
namespace ops_internal {
namespace {

using Ints = std::vector<int64_t>;

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
    return InvalidArgument(
        absl::StrCat(name, " must have 2 elements {h, w}, got ", v.size(), ": ", IntsToString(v)));
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

template <typename T>
const T& AttrOf(const AttrMap& attrs, const std::string& name) {
  return std::get<T>(attrs.at(name));
}

}  // namespace

absl::StatusOr<Geometry> ConvGeometry(const Shape& input, const Shape& filter,
                                      const AttrMap& attrs) {
  KILN_RETURN_IF_ERROR(CheckRank4(input, "NHWC input [n,h,w,c]"));
  KILN_RETURN_IF_ERROR(CheckRank4(filter, "HWIO filter [kh,kw,c,o]"));
  KILN_RETURN_IF_ERROR(CheckDims(input));
  if (filter[0] <= 0 || filter[1] <= 0 || filter[3] < 0) {
    return InvalidArgument(
        absl::StrCat("filter window must be at least 1x1, got filter ", filter.ToString()));
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
  KILN_RETURN_IF_ERROR(CheckPair("strides", strides));
  KILN_RETURN_IF_ERROR(CheckPair("dilations", dilations));
  if (padding != "VALID" && padding != "SAME" && padding != "EXPLICIT") {
    return InvalidArgument(
        absl::StrCat("padding must be VALID, SAME or EXPLICIT, got '", padding, "'"));
  }
  Ints pads = {0, 0, 0, 0};
  if (padding == "EXPLICIT") {
    if (explicit_padding.size() != 4) {
      return InvalidArgument(
          absl::StrCat("explicit_padding must have 4 elements {top, bottom, left, right}, got ",
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
  KILN_ASSIGN_OR_RETURN(g.h, MakeWindow("height", input[1], filter[0], strides[0], dilations[0],
                                        padding, pads[0], pads[1]));
  KILN_ASSIGN_OR_RETURN(g.w, MakeWindow("width", input[2], filter[1], strides[1], dilations[1],
                                        padding, pads[2], pads[3]));
  return g;
}

absl::StatusOr<Geometry> PoolGeometry(const Shape& input, const AttrMap& attrs) {
  KILN_RETURN_IF_ERROR(CheckRank4(input, "NHWC input [n,h,w,c]"));
  KILN_RETURN_IF_ERROR(CheckDims(input));
  const Ints& ksize = AttrOf<Ints>(attrs, "ksize");
  const Ints& strides = AttrOf<Ints>(attrs, "strides");
  const std::string& padding = AttrOf<std::string>(attrs, "padding");
  KILN_RETURN_IF_ERROR(CheckPair("ksize", ksize));
  KILN_RETURN_IF_ERROR(CheckPair("strides", strides));
  if (padding != "VALID" && padding != "SAME") {
    return InvalidArgument(absl::StrCat("padding must be VALID or SAME, got '", padding, "'"));
  }
  Geometry g;
  g.batch = input[0];
  g.channels = input[3];
  g.out_channels = input[3];
  KILN_ASSIGN_OR_RETURN(g.h,
                        MakeWindow("height", input[1], ksize[0], strides[0], 1, padding, 0, 0));
  KILN_ASSIGN_OR_RETURN(g.w, MakeWindow("width", input[2], ksize[1], strides[1], 1, padding, 0, 0));
  return g;
}

int64_t PadAfter(const Window& w) {
  const int64_t last_tap = (w.out - 1) * w.stride + (w.k - 1) * w.dilation;
  return std::max<int64_t>(0, last_tap + 1 - w.in - w.pad_before);
}

IrValue PadForWindows(LoweringContext& c, IrValue x, const Geometry& g, double value) {
  return c.Pad(x, {0, g.h.pad_before, g.w.pad_before, 0}, {0, PadAfter(g.h), PadAfter(g.w), 0},
               value);
}

}  // namespace ops_internal
}  // namespace kiln
