// Lowers one graph node to MLIR through its op's lowering facet (graph/lowering.h): the MLIR
// implementation of LoweringContext and ScalarBuilder. Used by LowerGraph
// (passes/graph_lowering.h).
#ifndef KILN_PASSES_NODE_LOWERING_H_
#define KILN_PASSES_NODE_LOWERING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/types.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Value.h"
#include "target/target.h"

namespace kiln {

// The MLIR types of Kiln's dtypes (bool is i1) and tensor types.
mlir::Type ElementType(DType dtype, mlir::MLIRContext* ctx);
mlir::RankedTensorType TensorTypeOf(const TensorType& t, mlir::MLIRContext* ctx);
mlir::MemRefType MemRefTypeOf(const TensorType& t, mlir::MLIRContext* ctx);

// A stored tensor, which holds all of `type`'s elements, as a dense attribute of `type`, built from
// its raw bytes (weights have millions of elements: one uniqued attribute per element would
// dominate compile time, and a detour through doubles would double the memory).
mlir::DenseElementsAttr TensorDataAttr(const TensorData& value, mlir::RankedTensorType type);

// Emits `node`'s computation at b's insertion point from tensor `inputs` (of `input_types`) and
// returns one tensor per node output. `runtime_context` (an !llvm.ptr to the call's kiln_context)
// is what run-time checks report to. Matmuls and convolutions that `target`'s kernel library
// computes call it through the runtime instead of becoming loops. Unimplemented when the op has no
// lowering yet; Internal for an argument op (Placeholder, Variable), which LowerGraph binds
// instead.
//
// `epilogue` (optional): a bias add, and maybe a ReLU, that follow a MatMul or Conv2D node. When
// the node becomes a library call, the call computes them too (oneDNN's bias and post-op) and
// `fused` is set; otherwise the caller lowers them as usual.
struct LibraryEpilogue {
  mlir::Value bias;  // [n]: one per output column (matmul) or channel (convolution)
  bool relu = false;
  bool fused = false;
};
absl::StatusOr<std::vector<mlir::Value>> LowerNode(mlir::OpBuilder& b, const Node& node,
                                                   const std::vector<mlir::Value>& inputs,
                                                   const std::vector<TensorType>& input_types,
                                                   mlir::Value runtime_context,
                                                   const Target& target,
                                                   LibraryEpilogue* epilogue = nullptr);

}  // namespace kiln

#endif  // KILN_PASSES_NODE_LOWERING_H_
