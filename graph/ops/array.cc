// Data movement: Transpose, Concat, Slice, Split, Pad, Gather, ScatterAdd and OneHot. (Reshape and
// BroadcastTo live with the sources in core.cc.)
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "graph/status_macros.h"

namespace kiln {
namespace {

using namespace ops_internal;  // NOLINT: helpers for op definitions
using Ints = std::vector<int64_t>;

// The flat row-major offset of `index` given `strides`.
int64_t Offset(const Ints& index, const Ints& strides) {
  int64_t offset = 0;
  for (size_t d = 0; d < index.size(); ++d) offset += index[d] * strides[d];
  return offset;
}

absl::Status RequireInteger(const TensorType& t, const std::string& what) {
  if (IsInteger(t.dtype)) return absl::OkStatus();
  return InvalidArgument(absl::StrCat(what, " must be an integer type, got ", t.ToString()));
}

// Reads entry `p` of integer `indices`, checked against [0, limit). The message names the value and
// its position, which is what a user needs to find the bad entry.
absl::StatusOr<int64_t> IndexAt(const Literal& indices, int64_t p, int64_t limit) {
  const int64_t index = static_cast<int64_t>(indices.values[p]);
  if (index < 0 || index >= limit) {
    return InvalidArgument(absl::StrCat("index ", index, " at position ",
                                        IntsToString(Unflatten(p, indices.shape)),
                                        " of indices is out of range [0, ", limit, ")"));
  }
  return index;
}

// ---- Transpose ----

KILN_REGISTER_OP(OpDef("Transpose")
                     .Doc("x with its dims permuted: output dim i is x's dim perm[i]")
                     .Inputs({"x"})
                     .Attr("perm", AttrType::kInts)
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       const Shape& in = c.inputs[0].shape;
                       const Ints& perm = c.attr<Ints>("perm");
                       std::vector<bool> seen(in.rank(), false);
                       bool ok = static_cast<int>(perm.size()) == in.rank();
                       for (size_t i = 0; ok && i < perm.size(); ++i) {
                         ok = perm[i] >= 0 && perm[i] < in.rank() && !seen[perm[i]];
                         if (ok) seen[perm[i]] = true;
                       }
                       if (!ok) {
                         return InvalidArgument(absl::StrCat(
                             "perm ", IntsToString(perm), " is not a permutation of [0, ",
                             in.rank(), ") for x ", c.inputs[0].ToString()));
                       }
                       Ints dims;
                       for (int64_t p : perm) dims.push_back(in[p]);
                       return std::vector<TensorType>{{c.inputs[0].dtype, Shape(dims)}};
                     })
                     .Grad([](const GradContext& c) {
                       const Ints perm =
                           c.attr<Ints>("perm");  // a copy: building ops may move the node
                       Ints inverse(perm.size());
                       for (size_t i = 0; i < perm.size(); ++i)
                         inverse[perm[i]] = static_cast<int64_t>(i);
                       return std::vector<Tensor>{ops::Transpose(c.output_grads[0], inverse)};
                     })
                     .Lower([](LoweringContext& c) {
                       c.SetOutput(0, c.Transpose(c.input(0), c.node().attr<Ints>("perm")));
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       const Literal& x = c.in(0);
                       Literal& y = c.out();
                       const Ints& perm = c.attr<Ints>("perm");
                       const Ints in_strides = x.shape.Strides();
                       Ints strides(
                           perm.size());  // y's index i steps x by the stride of x's dim perm[i]
                       for (size_t i = 0; i < perm.size(); ++i) strides[i] = in_strides[perm[i]];
                       for (int64_t e = 0; e < y.size(); ++e) {
                         y.values[e] = x.values[Offset(Unflatten(e, y.shape), strides)];
                       }
                       return absl::OkStatus();
                     }));

// ---- Concat ----

KILN_REGISTER_OP(
    OpDef("Concat")
        .Doc("xs joined along an axis (negative counts from the end)")
        .VariadicInputs("xs")
        .Attr("axis", AttrType::kInt, int64_t{0})
        .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
          const TensorType& first = c.inputs[0];
          if (first.shape.rank() == 0) {
            return InvalidArgument(
                absl::StrCat("cannot concatenate scalars (input 0 is ", first.ToString(), ")"));
          }
          KILN_ASSIGN_OR_RETURN(const int64_t axis,
                                NormalizeAxis(c.attr<int64_t>("axis"), first.shape.rank()));
          Ints dims = first.shape.dims();
          dims[axis] = 0;
          for (size_t i = 0; i < c.inputs.size(); ++i) {
            const TensorType& t = c.inputs[i];
            auto mismatch = [&](const std::string& why) {
              return InvalidArgument(absl::StrCat("input ", i, " is ", t.ToString(),
                                                  " but input 0 is ", first.ToString(), ": ", why));
            };
            if (t.dtype != first.dtype) return mismatch("dtypes differ");
            if (t.shape.rank() != first.shape.rank()) return mismatch("ranks differ");
            for (int d = 0; d < first.shape.rank(); ++d) {
              if (d != axis && t.shape[d] != first.shape[d]) {
                return mismatch(
                    absl::StrCat("dimension ", d, " differs (only axis ", axis, " may differ)"));
              }
            }
            dims[axis] += t.shape[axis];
          }
          return std::vector<TensorType>{{first.dtype, Shape(dims)}};
        })
        .Grad([](const GradContext& c) {
          // Each input's gradient is its own stretch of g along the axis.
          Ints sizes;
          const int64_t axis = *NormalizeAxis(c.attr<int64_t>("axis"), c.outputs[0].rank());
          for (const Tensor& x : c.inputs) sizes.push_back(x.shape()[axis]);
          return ops::Split(c.output_grads[0], sizes, axis);
        })
        .Lower([](LoweringContext& c) {
          // Each input written into its stretch of the output.
          const TensorType& out = c.node().outputs[0];
          const int64_t axis = *NormalizeAxis(c.node().attr<int64_t>("axis"), out.shape.rank());
          IrValue y = c.Fill(0, out);
          Ints offsets(out.shape.rank(), 0);
          for (size_t i = 0; i < c.node().inputs.size(); ++i) {
            y = c.InsertSlice(c.input(static_cast<int>(i)), y, offsets, Ints(out.shape.rank(), 1));
            offsets[axis] += c.input_type(static_cast<int>(i)).shape[axis];
          }
          c.SetOutput(0, y);
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          Literal& y = c.out();
          const int64_t axis = *NormalizeAxis(c.attr<int64_t>("axis"), y.shape.rank());
          const Ints out_strides = y.shape.Strides();
          int64_t start = 0;
          for (const Literal* x : c.inputs) {
            for (int64_t e = 0; e < x->size(); ++e) {
              Ints index = Unflatten(e, x->shape);
              index[axis] += start;
              y.values[Offset(index, out_strides)] = x->values[e];
            }
            start += x->shape[axis];
          }
          return absl::OkStatus();
        }));

// ---- Slice ----

// The extent of the slice in each dimension (size's -1 resolved), or an error on bad bounds.
absl::StatusOr<Ints> SliceSizes(const TensorType& x, const Ints& begin, const Ints& size) {
  const Shape& shape = x.shape;
  if (static_cast<int>(begin.size()) != shape.rank() ||
      static_cast<int>(size.size()) != shape.rank()) {
    return InvalidArgument(
        absl::StrCat("begin ", IntsToString(begin), " and size ", IntsToString(size),
                     " must each have one entry per dimension of x ", x.ToString()));
  }
  Ints sizes(shape.rank());
  for (int d = 0; d < shape.rank(); ++d) {
    if (begin[d] < 0 || begin[d] > shape[d]) {
      return InvalidArgument(absl::StrCat("begin ", begin[d], " is out of range [0, ", shape[d],
                                          "] in dimension ", d, " of x ", x.ToString()));
    }
    if (size[d] < -1) {
      return InvalidArgument(absl::StrCat("size ", size[d], " in dimension ", d,
                                          " must be non-negative or -1 (to the end)"));
    }
    sizes[d] = size[d] == -1 ? shape[d] - begin[d] : size[d];
    if (begin[d] + sizes[d] > shape[d]) {
      return InvalidArgument(absl::StrCat("slice [", begin[d], ", ", begin[d] + sizes[d],
                                          ") is out of bounds in dimension ", d, " of x ",
                                          x.ToString(), " (extent ", shape[d], ")"));
    }
  }
  return sizes;
}

KILN_REGISTER_OP(OpDef("Slice")
                     .Doc("the box of x at begin with extent size (-1: to the end)")
                     .Inputs({"x"})
                     .Attr("begin", AttrType::kInts)
                     .Attr("size", AttrType::kInts)
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       KILN_ASSIGN_OR_RETURN(
                           const Ints sizes,
                           SliceSizes(c.inputs[0], c.attr<Ints>("begin"), c.attr<Ints>("size")));
                       return std::vector<TensorType>{{c.inputs[0].dtype, Shape(sizes)}};
                     })
                     .Grad([](const GradContext& c) {
                       // Zeros everywhere outside the box: pad g back out to x's shape.
                       const Ints begin = c.attr<Ints>("begin");
                       const Shape& in = c.inputs[0].shape();
                       const Shape& out = c.outputs[0].shape();
                       Ints paddings;
                       for (int d = 0; d < in.rank(); ++d) {
                         paddings.push_back(begin[d]);
                         paddings.push_back(in[d] - begin[d] - out[d]);
                       }
                       return std::vector<Tensor>{ops::Pad(c.output_grads[0], paddings)};
                     })
                     .Lower([](LoweringContext& c) {
                       const Shape& out = c.node().outputs[0].shape;
                       c.SetOutput(0, c.ExtractSlice(c.input(0), c.node().attr<Ints>("begin"),
                                                     out.dims(), Ints(out.rank(), 1)));
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       const Literal& x = c.in(0);
                       Literal& y = c.out();
                       const Ints& begin = c.attr<Ints>("begin");
                       const Ints in_strides = x.shape.Strides();
                       const int64_t base = Offset(begin, in_strides);
                       for (int64_t e = 0; e < y.size(); ++e) {
                         y.values[e] = x.values[base + Offset(Unflatten(e, y.shape), in_strides)];
                       }
                       return absl::OkStatus();
                     }));

// ---- Split ----

// `sizes` with its -1 (at most one) inferred so that they sum to `dim`, or an error.
absl::StatusOr<Ints> SplitSizes(const Ints& sizes, int64_t dim, int64_t axis, const TensorType& x) {
  if (sizes.empty()) return InvalidArgument("sizes must not be empty");
  int inferred = -1;
  int64_t known = 0;
  for (int i = 0; i < static_cast<int>(sizes.size()); ++i) {
    if (sizes[i] == -1) {
      if (inferred >= 0) {
        return InvalidArgument(
            absl::StrCat("at most one size may be -1, got ", IntsToString(sizes)));
      }
      inferred = i;
    } else if (sizes[i] < 0) {
      return InvalidArgument(absl::StrCat("size ", sizes[i], " in ", IntsToString(sizes),
                                          " must be non-negative or -1 (inferred)"));
    } else {
      known += sizes[i];
    }
  }
  Ints resolved = sizes;
  if (inferred >= 0) resolved[inferred] = dim - known;
  if (known > dim || (inferred < 0 && known != dim)) {
    return InvalidArgument(absl::StrCat("sizes ", IntsToString(sizes), " sum to ", known,
                                        " but dimension ", axis, " of x ", x.ToString(), " is ",
                                        dim));
  }
  return resolved;
}

KILN_REGISTER_OP(OpDef("Split")
                     .Doc("x cut along an axis into pieces of the given sizes (one may be -1)")
                     .Inputs({"x"})
                     .Attr("sizes", AttrType::kInts)
                     .Attr("axis", AttrType::kInt, int64_t{0})
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       const TensorType& x = c.inputs[0];
                       KILN_ASSIGN_OR_RETURN(
                           const int64_t axis,
                           NormalizeAxis(c.attr<int64_t>("axis"), x.shape.rank()));
                       KILN_ASSIGN_OR_RETURN(const Ints sizes, SplitSizes(c.attr<Ints>("sizes"),
                                                                          x.shape[axis], axis, x));
                       std::vector<TensorType> pieces;
                       for (int64_t s : sizes) {
                         Ints dims = x.shape.dims();
                         dims[axis] = s;
                         pieces.push_back({x.dtype, Shape(dims)});
                       }
                       return pieces;
                     })
                     .Grad([](const GradContext& c) {
                       // Autodiff supplies zeros for pieces that do not reach the loss, so every
                       // piece is valid.
                       const int64_t axis = c.attr<int64_t>("axis");
                       return std::vector<Tensor>{ops::Concat(c.output_grads, axis)};
                     })
                     .Lower([](LoweringContext& c) {
                       const int rank = c.input_type(0).shape.rank();
                       const int64_t axis = *NormalizeAxis(c.node().attr<int64_t>("axis"), rank);
                       Ints offsets(rank, 0);
                       for (size_t i = 0; i < c.node().outputs.size(); ++i) {
                         const Shape& piece = c.node().outputs[i].shape;
                         c.SetOutput(
                             static_cast<int>(i),
                             c.ExtractSlice(c.input(0), offsets, piece.dims(), Ints(rank, 1)));
                         offsets[axis] += piece[axis];
                       }
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       const Literal& x = c.in(0);
                       const int64_t axis = *NormalizeAxis(c.attr<int64_t>("axis"), x.shape.rank());
                       const Ints in_strides = x.shape.Strides();
                       int64_t start = 0;
                       for (Literal& y : c.outputs) {
                         for (int64_t e = 0; e < y.size(); ++e) {
                           Ints index = Unflatten(e, y.shape);
                           index[axis] += start;
                           y.values[e] = x.values[Offset(index, in_strides)];
                         }
                         start += y.shape[axis];
                       }
                       return absl::OkStatus();
                     }));

// ---- Pad ----

KILN_REGISTER_OP(OpDef("Pad")
                     .Doc("x surrounded by `value`: paddings [b0,a0,b1,a1,...] per dimension")
                     .Inputs({"x"})
                     .Attr("paddings", AttrType::kInts)
                     .Attr("value", AttrType::kFloat, 0.0)
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       const TensorType& x = c.inputs[0];
                       const Ints& paddings = c.attr<Ints>("paddings");
                       if (static_cast<int>(paddings.size()) != 2 * x.shape.rank()) {
                         return InvalidArgument(
                             absl::StrCat("paddings ", IntsToString(paddings), " has ",
                                          paddings.size(), " entries but x ", x.ToString(),
                                          " needs 2 per dimension (", 2 * x.shape.rank(), ")"));
                       }
                       Ints dims = x.shape.dims();
                       for (size_t i = 0; i < paddings.size(); ++i) {
                         if (paddings[i] < 0) {
                           return InvalidArgument(
                               absl::StrCat("paddings must be non-negative, got ", paddings[i],
                                            " at position ", i, " of ", IntsToString(paddings)));
                         }
                         dims[i / 2] += paddings[i];
                       }
                       return std::vector<TensorType>{{x.dtype, Shape(dims)}};
                     })
                     .Grad([](const GradContext& c) {
                       // The padding is constant: only the interior box of g flows back.
                       const Ints paddings = c.attr<Ints>("paddings");
                       Ints begin;
                       for (size_t i = 0; i < paddings.size(); i += 2) begin.push_back(paddings[i]);
                       return std::vector<Tensor>{
                           ops::Slice(c.output_grads[0], begin, c.inputs[0].shape().dims())};
                     })
                     .Lower([](LoweringContext& c) {
                       const Ints& paddings = c.node().attr<Ints>("paddings");
                       Ints low, high;
                       for (size_t i = 0; i < paddings.size(); i += 2) {
                         low.push_back(paddings[i]);
                         high.push_back(paddings[i + 1]);
                       }
                       c.SetOutput(0, c.Pad(c.input(0), low, high, c.node().attr<double>("value")));
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       const Literal& x = c.in(0);
                       Literal& y = c.out();
                       const Ints& paddings = c.attr<Ints>("paddings");
                       std::fill(y.values.begin(), y.values.end(), c.attr<double>("value"));
                       const Ints out_strides = y.shape.Strides();
                       for (int64_t e = 0; e < x.size(); ++e) {
                         Ints index = Unflatten(e, x.shape);
                         for (size_t d = 0; d < index.size(); ++d) index[d] += paddings[2 * d];
                         y.values[Offset(index, out_strides)] = x.values[e];
                       }
                       return absl::OkStatus();
                     }));

// ---- Gather, ScatterAdd, OneHot ----

KILN_REGISTER_OP(
    OpDef("Gather")
        .Doc("rows of params (axis 0) picked by integer indices: indices.shape + params.shape[1:]; "
             "an "
             "out-of-range index is a run-time error")
        .Inputs({"params", "indices"})
        .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
          const TensorType& params = c.inputs[0];
          const TensorType& indices = c.inputs[1];
          KILN_RETURN_IF_ERROR(RequireInteger(indices, "indices"));
          if (params.shape.rank() == 0) {
            return InvalidArgument(
                absl::StrCat("params must have rank >= 1, got ", params.ToString()));
          }
          Ints dims = indices.shape.dims();
          dims.insert(dims.end(), params.shape.dims().begin() + 1, params.shape.dims().end());
          return std::vector<TensorType>{{params.dtype, Shape(dims)}};
        })
        .Grad([](const GradContext& c) {
          return std::vector<Tensor>{
              ops::ScatterAdd(c.inputs[1], c.output_grads[0], c.inputs[0].shape()), Tensor()};
        })
        .Lower([](LoweringContext& c) {
          // Each output element reads params at (indices[i...], j...). An out-of-range index is
          // reported through the runtime; its rows are zeros (as TensorFlow on GPUs), and the read
          // is clamped.
          const TensorType& out = c.node().outputs[0];
          const int64_t rows = c.input_type(0).shape[0];
          const int index_rank = c.input_type(1).shape.rank();
          if (rows == 0) {
            c.SetOutput(0, c.Fill(0, out));
            return absl::OkStatus();
          }
          IrValue params = c.input(0), indices = c.input(1);
          c.CheckIndices(indices, rows, "index");
          c.SetOutput(0, c.Elementwise({}, out, [=](ScalarBuilder& b, const std::vector<IrValue>&) {
            std::vector<IrValue> at;
            for (int d = 0; d < index_rank; ++d) at.push_back(b.Index(d));
            IrValue row = b.ToIndex(b.Extract(indices, at));
            IrValue negative = b.Apply(ScalarOp::kLess, row, b.IndexConstant(0));
            IrValue valid = b.Apply(ScalarOp::kAnd, b.Apply(ScalarOp::kNot, negative),
                                    b.Apply(ScalarOp::kLess, row, b.IndexConstant(rows)));
            std::vector<IrValue> from = {b.ClampIndex(row, 0, rows - 1)};
            for (int d = index_rank; d < out.shape.rank(); ++d) from.push_back(b.Index(d));
            return b.Select(valid, b.Extract(params, from), b.Constant(0, out.dtype));
          }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& params = c.in(0);
          const Literal& indices = c.in(1);
          Literal& y = c.out();
          const int64_t rows = params.shape[0];
          const int64_t row_size = rows == 0 ? 0 : params.size() / rows;
          for (int64_t p = 0; p < indices.size(); ++p) {
            KILN_ASSIGN_OR_RETURN(const int64_t row, IndexAt(indices, p, rows));
            std::copy_n(params.values.begin() + row * row_size, row_size,
                        y.values.begin() + p * row_size);
          }
          return absl::OkStatus();
        }));

KILN_REGISTER_OP(
    OpDef("ScatterAdd")
        .Doc("zeros of `shape` with updates rows added at integer indices along axis 0 (repeats "
             "accumulate); updates: indices.shape + shape[1:]; an out-of-range index is a run-time "
             "error")
        .Inputs({"indices", "updates"})
        .Attr("shape", AttrType::kShape)
        .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
          const TensorType& indices = c.inputs[0];
          const TensorType& updates = c.inputs[1];
          const Shape& shape = c.attr<Shape>("shape");
          KILN_RETURN_IF_ERROR(RequireInteger(indices, "indices"));
          if (shape.rank() == 0) return InvalidArgument("shape must have rank >= 1, got []");
          for (int64_t d : shape.dims()) {
            if (d < 0)
              return InvalidArgument(
                  absl::StrCat("negative dimension in shape ", shape.ToString()));
          }
          Ints expected = indices.shape.dims();
          expected.insert(expected.end(), shape.dims().begin() + 1, shape.dims().end());
          if (updates.shape != Shape(expected)) {
            return InvalidArgument(
                absl::StrCat("updates ", updates.ToString(), " must have shape ",
                             "indices.shape + shape[1:] = ", Shape(expected).ToString(),
                             " (indices ", indices.ToString(), ", shape ", shape.ToString(), ")"));
          }
          return std::vector<TensorType>{{updates.dtype, shape}};
        })
        .Grad([](const GradContext& c) {
          return std::vector<Tensor>{Tensor(), ops::Gather(c.output_grads[0], c.inputs[0])};
        })
        .Lower([](LoweringContext& c) {
          // out[r, j...] = sum over positions p of updates[p, j...] where indices[p] == r, in p
          // order (as the kernel adds them). Out-of-range indices are reported through the runtime
          // and match no row. Costs rows x positions: fine for gradients of small tables.
          const TensorType& out = c.node().outputs[0];
          const int rank = out.shape.rank();
          const int64_t positions = c.input_type(0).shape.NumElements();
          Ints update_dims = out.shape.dims();
          update_dims[0] = positions;
          IrValue indices = c.Reshape(c.input(0), Shape({positions}));
          IrValue updates = c.Reshape(c.input(1), Shape(update_dims));
          c.CheckIndices(indices, out.shape[0], "index");
          std::vector<AffineIndex> update_index = {AffineIndex::Loop(rank)};
          for (int d = 1; d < rank; ++d) update_index.push_back(AffineIndex::Loop(d));
          auto body = [](ScalarBuilder& b, const std::vector<IrValue>& x) {
            IrValue hit = b.Apply(ScalarOp::kEqual, b.Convert(x[0], DType::kI64),
                                  b.Convert(b.Index(0), DType::kI64));
            return b.Select(hit, x[1], b.ConstantLike(0, x[1]));
          };
          c.SetOutput(0, c.Generic({{indices, {AffineIndex::Loop(rank)}}, {updates, update_index}},
                                   {positions}, ReduceKind::kSum, out, body));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& indices = c.in(0);
          const Literal& updates = c.in(1);
          Literal& y = c.out();
          const int64_t rows = y.shape[0];
          const int64_t row_size = rows == 0 ? 0 : y.size() / rows;
          for (int64_t p = 0; p < indices.size(); ++p) {
            KILN_ASSIGN_OR_RETURN(const int64_t row, IndexAt(indices, p, rows));
            for (int64_t k = 0; k < row_size; ++k) {
              y.values[row * row_size + k] += updates.values[p * row_size + k];
            }
          }
          return absl::OkStatus();
        }));

KILN_REGISTER_OP(
    OpDef("OneHot")
        .Doc(
            "integer indices as depth-wide one-hot vectors along a new last axis; an index outside "
            "[0, depth) gives an all-zero row (TensorFlow's semantics), not an error")
        .Inputs({"indices"})
        .Attr("depth", AttrType::kInt)
        .Attr("dtype", AttrType::kDType, DType::kF32)
        .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
          const TensorType& indices = c.inputs[0];
          KILN_RETURN_IF_ERROR(RequireInteger(indices, "indices"));
          const int64_t depth = c.attr<int64_t>("depth");
          if (depth <= 0)
            return InvalidArgument(absl::StrCat("depth must be positive, got ", depth));
          Ints dims = indices.shape.dims();
          dims.push_back(depth);
          return std::vector<TensorType>{{c.attr<DType>("dtype"), Shape(dims)}};
        })
        .NotDifferentiable("integer input")
        .Lower([](LoweringContext& c) {
          // indices as a column [..., 1] broadcast over the depth, compared with the position along
          // it.
          const TensorType& out = c.node().outputs[0];
          Ints column = c.input_type(0).shape.dims();
          column.push_back(1);
          const int last = out.shape.rank() - 1;
          const DType dtype = out.dtype;
          c.SetOutput(0, c.Elementwise(
                             {c.Reshape(c.input(0), Shape(column))}, out,
                             [last, dtype](ScalarBuilder& b, const std::vector<IrValue>& x) {
                               IrValue hit = b.Apply(ScalarOp::kEqual, b.Convert(x[0], DType::kI64),
                                                     b.Convert(b.Index(last), DType::kI64));
                               return b.Select(hit, b.Constant(1, dtype), b.Constant(0, dtype));
                             }));
          return absl::OkStatus();
        })
        .Kernel([](KernelContext& c) {
          const Literal& indices = c.in(0);
          Literal& y = c.out();
          const int64_t depth = c.attr<int64_t>("depth");
          for (int64_t p = 0; p < indices.size(); ++p) {
            const int64_t index = static_cast<int64_t>(indices.values[p]);
            if (index >= 0 && index < depth) y.values[p * depth + index] = 1.0;
          }
          return absl::OkStatus();
        }));

}  // namespace

namespace ops {

Tensor Transpose(Tensor x, std::vector<int64_t> perm, SourceLoc loc) {
  return ops_internal::AddOp1("Transpose", {x}, {{"perm", std::move(perm)}}, loc);
}

Tensor Concat(std::vector<Tensor> xs, int64_t axis, SourceLoc loc) {
  return ops_internal::AddOp1("Concat", xs, {{"axis", axis}}, loc);
}

Tensor Slice(Tensor x, std::vector<int64_t> begin, std::vector<int64_t> size, SourceLoc loc) {
  return ops_internal::AddOp1("Slice", {x},
                              {{"begin", std::move(begin)}, {"size", std::move(size)}}, loc);
}

std::vector<Tensor> Split(Tensor x, std::vector<int64_t> sizes, int64_t axis, SourceLoc loc) {
  const int num_outputs = static_cast<int>(sizes.size());
  return ops_internal::AddOp("Split", {x}, {{"sizes", std::move(sizes)}, {"axis", axis}}, loc,
                             num_outputs);
}

Tensor Pad(Tensor x, std::vector<int64_t> paddings, double value, SourceLoc loc) {
  return ops_internal::AddOp1("Pad", {x}, {{"paddings", std::move(paddings)}, {"value", value}},
                              loc);
}

Tensor Gather(Tensor params, Tensor indices, SourceLoc loc) {
  return ops_internal::AddOp1("Gather", {params, indices}, {}, loc);
}

Tensor ScatterAdd(Tensor indices, Tensor updates, Shape shape, SourceLoc loc) {
  return ops_internal::AddOp1("ScatterAdd", {indices, updates}, {{"shape", std::move(shape)}}, loc);
}

Tensor OneHot(Tensor indices, int64_t depth, DType dtype, SourceLoc loc) {
  return ops_internal::AddOp1("OneHot", {indices}, {{"depth", depth}, {"dtype", dtype}}, loc);
}

}  // namespace ops
KILN_OP_FAMILY(Array);

}  // namespace kiln
