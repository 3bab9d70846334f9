// Matrix products: MatMul and BatchMatMul.
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
using TypesOr = absl::StatusOr<std::vector<TensorType>>;

// Shared by MatMul (rank 2 only) and BatchMatMul (leading batch dims broadcast, NumPy rules).
ShapeFn MatMulShape(bool batched) {
  return [batched](const InferContext& c) -> TypesOr {
    const TensorType& a = c.inputs[0];
    const TensorType& b = c.inputs[1];
    KILN_RETURN_IF_ERROR(RequireSameDType(a, b));
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
      return InvalidArgument(
          absl::StrCat("expects inputs of rank >= 2, got ", a.ToString(), " and ", b.ToString()));
    }
    const bool ta = c.attr<bool>("transpose_a");
    const bool tb = c.attr<bool>("transpose_b");
    const int64_t m = a.shape[ra - (ta ? 1 : 2)];
    const int64_t ka = a.shape[ra - (ta ? 2 : 1)];
    const int64_t kb = b.shape[rb - (tb ? 1 : 2)];
    const int64_t n = b.shape[rb - (tb ? 2 : 1)];
    if (ka != kb) {
      return InvalidArgument(absl::StrCat("inner dimensions differ: ", a.shape.ToString(),
                                          ta ? "^T" : "", " x ", b.shape.ToString(), tb ? "^T" : "",
                                          " (", ka, " vs ", kb, ")"));
    }
    const Shape a_batch(Ints(a.shape.dims().begin(), a.shape.dims().end() - 2));
    const Shape b_batch(Ints(b.shape.dims().begin(), b.shape.dims().end() - 2));
    absl::StatusOr<Shape> batch = BroadcastShapes(a_batch, b_batch);
    if (!batch.ok()) {
      return InvalidArgument(
          absl::StrCat("batch dimensions do not broadcast: ", a.ToString(), " x ", b.ToString()));
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
  return OpDef(name)
      .Doc(doc)
      .Inputs({"a", "b"})
      .Attr("transpose_a", AttrType::kBool, false)
      .Attr("transpose_b", AttrType::kBool, false)
      .Shape(MatMulShape(batched))
      .Grad(MatMulGrad(batched))
      .Kernel(MatMulKernel);
}

KILN_REGISTER_OP(MatMulDef("MatMul", "[m,k] x [k,n] after optional transposes", false)
                     .Lower([](LoweringContext& c) {
                       c.SetOutput(
                           0, c.MatMul(c.input(0), c.input(1), c.node().attr<bool>("transpose_a"),
                                       c.node().attr<bool>("transpose_b"), c.node().outputs[0]));
                       return absl::OkStatus();
                     }));

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
    return c.Generic({operand(0, ta, m, k), operand(1, tb, k, n)}, {depth}, ReduceKind::kSum, out,
                     Product);
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

KILN_REGISTER_OP(MatMulDef("BatchMatMul",
                           "[...,m,k] x [...,k,n] after optional transposes of the last two dims; "
                           "batch dims broadcast",
                           true)
                     .Lower(BatchMatMulLowering));

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

}  // namespace ops
KILN_OP_FAMILY(MatMul);

}  // namespace kiln
