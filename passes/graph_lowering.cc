#include "passes/graph_lowering.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "graph/op_registry.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "passes/node_lowering.h"

namespace kiln {
namespace {

std::string Where(const Node& node) {
  return absl::StrCat(node.op_name(), " '", node.name, "'",
                      node.source.empty() ? "" : absl::StrCat(" (", node.source, ")"));
}

}  // namespace

absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> LowerGraph(const Graph& graph,
                                                             const std::vector<Tensor>& outputs,
                                                             const std::string& function_name,
                                                             mlir::MLIRContext& context,
                                                             LoweredSignature* signature) {
  if (!graph.ok()) return graph.status();
  context.loadDialect<mlir::arith::ArithDialect, mlir::bufferization::BufferizationDialect,
                      mlir::func::FuncDialect, mlir::linalg::LinalgDialect, mlir::math::MathDialect,
                      mlir::tensor::TensorDialect>();
  // The nodes the outputs need, in topological (id) order.
  std::vector<bool> needed(graph.num_nodes(), false);
  for (const Tensor& t : outputs) {
    if (!t.valid() || t.graph() != &graph) return absl::InvalidArgumentError("output is not a tensor of this graph");
    needed[t.node()] = true;
  }
  for (int id = graph.num_nodes() - 1; id >= 0; --id) {
    if (!needed[id]) continue;
    for (const OutputRef& in : graph.node(id).inputs) needed[in.node] = true;
  }
  LoweredSignature sig;
  for (int id = 0; id < graph.num_nodes(); ++id) {
    if (!needed[id]) continue;
    const std::string& op = graph.node(id).op_name();
    if (op == "Placeholder") sig.placeholders.push_back(id);
    if (op == "Variable") sig.variables.push_back(id);
  }
  sig.outputs = outputs;

  mlir::OpBuilder b(&context);
  mlir::Location loc = b.getUnknownLoc();
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  std::vector<mlir::Type> arg_types;
  for (int id : sig.placeholders) arg_types.push_back(MemRefTypeOf(graph.node(id).outputs[0], &context));
  for (int id : sig.variables) arg_types.push_back(MemRefTypeOf(graph.node(id).outputs[0], &context));
  for (const Tensor& t : outputs) arg_types.push_back(MemRefTypeOf(t.type(), &context));
  b.setInsertionPointToEnd(module->getBody());
  auto func = mlir::func::FuncOp::create(b, loc, function_name, b.getFunctionType(arg_types, {}));
  mlir::Block* entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);

  // Each graph value, by node id and output index.
  std::map<OutputRef, mlir::Value> values;
  int arg = 0;
  for (const std::vector<int>* ids : {&sig.placeholders, &sig.variables}) {
    for (int id : *ids) {
      mlir::Value memref = entry->getArgument(arg++);
      values[OutputRef{id, 0}] = mlir::bufferization::ToTensorOp::create(
          b, loc, TensorTypeOf(graph.node(id).outputs[0], &context), memref, /*restrict=*/true);
    }
  }
  for (int id = 0; id < graph.num_nodes(); ++id) {
    const Node& node = graph.node(id);
    if (!needed[id] || node.op_name() == "Placeholder" || node.op_name() == "Variable") continue;
    std::vector<mlir::Value> inputs;
    std::vector<TensorType> input_types;
    for (const OutputRef& in : node.inputs) {
      inputs.push_back(values.at(in));
      input_types.push_back(graph.type(in));
    }
    absl::StatusOr<std::vector<mlir::Value>> results = LowerNode(b, node, inputs, input_types);
    if (!results.ok()) {
      return absl::Status(results.status().code(), absl::StrCat(Where(node), ": ", results.status().message()));
    }
    for (size_t i = 0; i < results->size(); ++i) values[OutputRef{id, static_cast<int>(i)}] = (*results)[i];
  }
  for (const Tensor& t : outputs) {
    mlir::bufferization::MaterializeInDestinationOp::create(b, loc, mlir::Type(), values.at(t.ref()),
                                                            entry->getArgument(arg++),
                                                            /*restrict=*/true, /*writable=*/true);
  }
  mlir::func::ReturnOp::create(b, loc);
  if (mlir::failed(mlir::verify(*module))) {
    return absl::InternalError("lowered module does not verify");
  }
  if (signature != nullptr) *signature = std::move(sig);
  return module;
}

}  // namespace kiln
