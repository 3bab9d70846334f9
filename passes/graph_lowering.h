// Graph → MLIR: one func.func computing chosen outputs of a Kiln graph, built from each op's
// lowering facet (graph/lowering.h) in upstream dialects (linalg, tensor, arith, math on tensors).
#ifndef KILN_PASSES_GRAPH_LOWERING_H_
#define KILN_PASSES_GRAPH_LOWERING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "target/target.h"

namespace kiln {

// The calling convention of a lowered function: one memref argument per fed argument op
// (Placeholder), then one per stateful argument op (Variable), each in node order and only those
// the function reads or updates, then one destination per output, then the run-time context (an
// !llvm.ptr to a kiln_context, runtime/kiln_runtime.h) that run-time checks and effects' calls get.
// (kiln-plan-memory appends the arena after it.)
struct LoweredSignature {
  std::vector<int> placeholders;  // node ids
  std::vector<int> variables;     // node ids
  std::vector<Tensor> outputs;
};

// Builds `function_name(inputs..., variables..., outputs..., context)` computing `outputs` from
// `graph`, and performing every effectful node's effect (OpDef::Effects), needed or not, in node
// order. With `apply_updates`, the function also performs the graph's training updates
// (TrainingInfo::updates): every new value is computed from the old ones, then all are written into
// their variables' buffers, so one call is one whole training step. `target` decides how: which
// matmuls and convolutions call its kernel library through the runtime (oneDNN, cuBLASLt/cuDNN;
// target/target.h), and on a GPU target run-time index checks read their findings from device
// memory (kiln_rt_cuda_check_index). Fails with Unimplemented naming the op (and its source line)
// when an op has no lowering.
absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> LowerGraph(
    const Graph& graph, const std::vector<Tensor>& outputs, const std::string& function_name,
    mlir::MLIRContext& context, LoweredSignature* signature, const Target& target,
    bool apply_updates = false);

// Adds `function_name(variables...)` to `module`: it sets each of the signature's variables to its
// initial value (stored in the module as a constant, so the object file carries it).
absl::Status AddVariableInitializer(const Graph& graph, const LoweredSignature& signature,
                                    const std::string& function_name, mlir::ModuleOp module);

}  // namespace kiln

#endif  // KILN_PASSES_GRAPH_LOWERING_H_
