// Helpers shared by the op definitions in graph/ops/*.cc. Not part of the public API.
#ifndef KILN_GRAPH_OPS_OP_UTIL_H_
#define KILN_GRAPH_OPS_OP_UTIL_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "graph/graph.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/types.h"

namespace kiln {
namespace ops_internal {

// Adds an `op` node whose graph is the first input's and returns its outputs (`num_outputs`
// handles, invalid ones if the node could not be added).
std::vector<Tensor> AddOp(const std::string& op, const std::vector<Tensor>& inputs, AttrMap attrs,
                          SourceLoc loc, int num_outputs = 1);
// Single-output form.
Tensor AddOp1(const std::string& op, const std::vector<Tensor>& inputs, AttrMap attrs,
              SourceLoc loc);
// Source ops (no inputs) name their graph explicitly.
Tensor AddSourceOp(Graph& g, const std::string& op, AttrMap attrs, SourceLoc loc,
                   const std::string& name = "");

absl::Status InvalidArgument(const std::string& message);

// "[1,0,2]", matching Shape::ToString so messages read alike.
std::string IntsToString(const std::vector<int64_t>& v);

// Operand checks; `what` names the operand in the message.
absl::Status RequireFloat(const TensorType& t, const std::string& what);
absl::Status RequireSameDType(const TensorType& a, const TensorType& b);
// Two floating-point operands of one dtype.
absl::Status CheckFloatOperands(const TensorType& a, const TensorType& b, const std::string& a_name,
                                const std::string& b_name);

// `axis` in [-rank, rank) → [0, rank), or an error naming the axis and rank.
absl::StatusOr<int64_t> NormalizeAxis(int64_t axis, int rank);

// For every element of `out` (row-major), the index of the element of `in` that broadcasts to it.
std::vector<int64_t> BroadcastIndexMap(const Shape& in, const Shape& out);

// Shape rules.
ShapeFn SameAsInput(int i = 0);
// Float-only unary: same type as the input, which must be a float.
ShapeFn FloatUnary();
// Broadcasting binary: both inputs of one dtype; `result` overrides the output dtype (comparisons).
ShapeFn Broadcasting(int num_inputs = 2, std::optional<DType> result = std::nullopt,
                     bool require_float = false);

// Kernels.
KernelFn UnaryKernel(std::function<double(double)> f);
KernelFn BinaryKernel(std::function<double(double, double)> f);

// Lowerings of elementwise ops that are one scalar operation.
LowerFn UnaryLowering(ScalarOp op);
LowerFn BinaryLowering(ScalarOp op);
// The scalar body x[0] * x[1], for contractions (matmuls, convolutions).
IrValue Product(ScalarBuilder& b, const std::vector<IrValue>& x);

// The multi-dimensional index of flat element `flat` of `shape`.
std::vector<int64_t> Unflatten(int64_t flat, const Shape& shape);

}  // namespace ops_internal
}  // namespace kiln

#endif  // KILN_GRAPH_OPS_OP_UTIL_H_
