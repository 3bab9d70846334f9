#include "passes/graph_lowering.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "passes/node_lowering.h"

namespace kiln {
namespace {

// A function argument's type. A tensor without elements is passed as memref<0xT> (it has no data;
// the bare-pointer calling convention rejects zero-size memrefs of higher rank).
mlir::MemRefType ArgumentType(const TensorType& t, mlir::MLIRContext* ctx) {
  if (t.shape.NumElements() > 0) return MemRefTypeOf(t, ctx);
  return mlir::MemRefType::get({0}, ElementType(t.dtype, ctx));
}

}  // namespace

namespace {

// A MatMul or Conv2D whose only use adds a per-column (per-channel) bias, and maybe whose add's
// only use is a ReLU: a library call computes all of it (LibraryEpilogue).
struct EpilogueNodes {
  OutputRef bias;
  int add = -1, relu = -1;
};

// Whether an op of `block` after `previous` (from its start when null) survives when its results
// are unused: what an effectful node's lowering must emit (a call of an external function).
bool EmitsEffect(mlir::Operation* previous, mlir::Block* block) {
  auto it = previous != nullptr ? std::next(previous->getIterator()) : block->begin();
  for (; it != block->end(); ++it) {
    if (!mlir::wouldOpBeTriviallyDead(&*it)) return true;
  }
  return false;
}

std::map<int, EpilogueNodes> FindEpilogues(const Graph& graph, const std::vector<bool>& needed,
                                           const std::vector<Tensor>& outputs, bool apply_updates) {
  // Who reads each (single-output) node: needed nodes, graph outputs and variable updates (-1).
  std::vector<std::vector<int>> readers(graph.num_nodes());
  for (int id = 0; id < graph.num_nodes(); ++id) {
    if (!needed[id]) continue;
    for (const OutputRef& in : graph.node(id).inputs) readers[in.node].push_back(id);
  }
  for (const Tensor& t : outputs) readers[t.node()].push_back(-1);
  if (apply_updates) {
    for (const auto& [var, value] : graph.training().updates) readers[value.node()].push_back(-1);
  }
  auto only_reader = [&](int id, const std::string& op) {
    return readers[id].size() == 1 && readers[id][0] >= 0 &&
                   graph.node(readers[id][0]).op_name() == op
               ? readers[id][0]
               : -1;
  };
  std::map<int, EpilogueNodes> epilogues;
  for (int id = 0; id < graph.num_nodes(); ++id) {
    const Node& node = graph.node(id);
    if (!needed[id] || (node.op_name() != "MatMul" && node.op_name() != "Conv2D")) continue;
    const TensorType& out = node.outputs[0];
    const int add = only_reader(id, "Add");
    if (add < 0) continue;
    const Node& add_node = graph.node(add);
    const OutputRef bias = add_node.inputs[add_node.inputs[0].node == id ? 1 : 0];
    const TensorType& bias_type = graph.type(bias);
    // The bias must exist before the product (ids are topological) and be one value per column.
    if (bias.node == id || bias.node > id || !(add_node.outputs[0] == out) ||
        bias_type.dtype != out.dtype || bias_type.shape.rank() != 1 ||
        bias_type.shape[0] != out.shape[out.shape.rank() - 1]) {
      continue;
    }
    epilogues[id] = {bias, add, only_reader(add, "Relu")};
  }
  return epilogues;
}

}  // namespace

absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> LowerGraph(
    const Graph& graph, const std::vector<Tensor>& outputs, const std::string& function_name,
    mlir::MLIRContext& context, LoweredSignature* signature, const Target& target,
    bool apply_updates) {
  KILN_RETURN_IF_ERROR(graph.status());
  context.loadDialect<mlir::arith::ArithDialect, mlir::bufferization::BufferizationDialect,
                      mlir::func::FuncDialect, mlir::linalg::LinalgDialect, mlir::LLVM::LLVMDialect,
                      mlir::math::MathDialect, mlir::memref::MemRefDialect, mlir::scf::SCFDialect,
                      mlir::tensor::TensorDialect>();
  // The nodes the outputs need, in topological (id) order, and every effectful node: an effect
  // happens whether or not anything reads its results.
  std::vector<bool> needed(graph.num_nodes(), false);
  for (const Node& node : graph.nodes()) needed[node.id] = node.op->has_effects();
  for (const Tensor& t : outputs) {
    if (!t.valid() || t.graph() != &graph)
      return absl::InvalidArgumentError("output is not a tensor of this graph");
    needed[t.node()] = true;
  }
  const auto& updates = graph.training().updates;
  if (apply_updates) {
    if (updates.empty()) {
      return absl::FailedPreconditionError("the graph has no training updates (see TrainStep)");
    }
    for (const auto& [var, value] : updates) {
      needed[var] = true;
      needed[value.node()] = true;
    }
  }
  for (int id = graph.num_nodes() - 1; id >= 0; --id) {
    if (!needed[id]) continue;
    for (const OutputRef& in : graph.node(id).inputs) needed[in.node] = true;
  }
  LoweredSignature sig;
  for (int id = 0; id < graph.num_nodes(); ++id) {
    if (!needed[id]) continue;
    const OpDef& op = *graph.node(id).op;
    if (op.is_fed()) sig.placeholders.push_back(id);
    if (op.is_stateful()) sig.variables.push_back(id);
  }
  sig.outputs = outputs;

  mlir::OpBuilder b(&context);
  mlir::Location loc = b.getUnknownLoc();
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);
  std::vector<mlir::Type> arg_types;
  for (int id : sig.placeholders)
    arg_types.push_back(ArgumentType(graph.node(id).outputs[0], &context));
  for (int id : sig.variables)
    arg_types.push_back(ArgumentType(graph.node(id).outputs[0], &context));
  for (const Tensor& t : outputs) arg_types.push_back(ArgumentType(t.type(), &context));
  arg_types.push_back(mlir::LLVM::LLVMPointerType::get(&context));  // the kiln_context
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
      const TensorType& type = graph.node(id).outputs[0];
      if (type.shape.NumElements() == 0) {
        values[OutputRef{id, 0}] = mlir::tensor::EmptyOp::create(b, loc, type.shape.dims(),
                                                                 ElementType(type.dtype, &context));
      } else {
        values[OutputRef{id, 0}] = mlir::bufferization::ToTensorOp::create(
            b, loc, TensorTypeOf(type, &context), memref, /*restrict=*/true);
      }
    }
  }
  const std::map<int, EpilogueNodes> epilogues =
      target.library != KernelLibrary::kNone ? FindEpilogues(graph, needed, outputs, apply_updates)
                                             : std::map<int, EpilogueNodes>{};
  std::vector<bool> done(graph.num_nodes(), false);
  for (int id = 0; id < graph.num_nodes(); ++id) {
    const Node& node = graph.node(id);
    if (!needed[id] || done[id] || node.op->is_argument()) continue;
    std::vector<mlir::Value> inputs;
    std::vector<TensorType> input_types;
    for (const OutputRef& in : node.inputs) {
      inputs.push_back(values.at(in));
      input_types.push_back(graph.type(in));
    }
    auto fusable = epilogues.find(id);
    LibraryEpilogue epilogue;
    if (fusable != epilogues.end()) {
      epilogue.bias = values.at(fusable->second.bias);
      epilogue.relu = fusable->second.relu >= 0;
    }
    mlir::Operation* previous = entry->empty() ? nullptr : &entry->back();
    absl::StatusOr<std::vector<mlir::Value>> results =
        LowerNode(b, node, inputs, input_types, entry->getArguments().back(), target,
                  fusable != epilogues.end() ? &epilogue : nullptr);
    if (!results.ok()) {
      return absl::Status(results.status().code(),
                          absl::StrCat(node.Describe(), ": ", results.status().message()));
    }
    if (node.op->has_effects() && !EmitsEffect(previous, entry)) {
      // Pure code would be merged, moved or dropped by the passes: the effect would be lost.
      return absl::InternalError(absl::StrCat(node.Describe(), ": has effects (", node.op->effects,
                                              ") but its lowering calls no external function"));
    }
    if (epilogue.fused) {
      // The call's result is the last fused node's value; nothing else reads the earlier ones.
      const int last = epilogue.relu ? fusable->second.relu : fusable->second.add;
      values[OutputRef{last, 0}] = (*results)[0];
      done[fusable->second.add] = done[last] = true;
      continue;
    }
    for (size_t i = 0; i < results->size(); ++i)
      values[OutputRef{id, static_cast<int>(i)}] = (*results)[i];
  }
  const int first_variable = static_cast<int>(sig.placeholders.size());
  const int first_output = first_variable + static_cast<int>(sig.variables.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].shape().NumElements() == 0) continue;  // nothing to write
    // Outputs own their buffers: the result may be computed straight into them.
    mlir::bufferization::MaterializeInDestinationOp::create(
        b, loc, mlir::Type(), values.at(outputs[i].ref()), entry->getArgument(first_output + i),
        /*restrict=*/true, /*writable=*/true);
  }
  if (apply_updates) {
    std::map<int, int> variable_arg;
    for (size_t i = 0; i < sig.variables.size(); ++i)
      variable_arg[sig.variables[i]] = first_variable + i;
    // Every new value must exist before the first variable is overwritten. A new value that is some
    // variable's old value as is (no computation) gets its own copy; computed values already live
    // in their own buffers, because variables are read through read-only tensors.
    std::vector<mlir::Value> new_values;
    for (const auto& [var, value] : updates) {
      mlir::Value v = values.at(value.ref());
      if (graph.node(value.node()).op->is_stateful()) {
        v = mlir::bufferization::AllocTensorOp::create(
            b, loc, mlir::cast<mlir::RankedTensorType>(v.getType()), mlir::ValueRange{}, v);
      }
      new_values.push_back(v);
    }
    // Not `restrict`: the variable's buffer is also read through its argument's tensor, so the new
    // value is computed elsewhere and copied in here, after every read.
    for (size_t i = 0; i < updates.size(); ++i) {
      if (graph.node(updates[i].first).outputs[0].shape.NumElements() == 0) continue;
      mlir::bufferization::MaterializeInDestinationOp::create(
          b, loc, mlir::Type(), new_values[i],
          entry->getArgument(variable_arg.at(updates[i].first)),
          /*restrict=*/false, /*writable=*/true);
    }
  }
  mlir::func::ReturnOp::create(b, loc);
  if (mlir::failed(mlir::verify(*module))) {
    return absl::InternalError("lowered module does not verify");
  }
  if (signature != nullptr) *signature = std::move(sig);
  return module;
}

absl::Status AddVariableInitializer(const Graph& graph, const LoweredSignature& signature,
                                    const std::string& function_name, mlir::ModuleOp module) {
  mlir::MLIRContext* ctx = module.getContext();
  ctx->loadDialect<mlir::memref::MemRefDialect>();
  mlir::OpBuilder b(ctx);
  mlir::Location loc = b.getUnknownLoc();
  std::vector<mlir::Type> arg_types;
  for (int id : signature.variables)
    arg_types.push_back(ArgumentType(graph.node(id).outputs[0], ctx));
  b.setInsertionPointToEnd(module.getBody());
  std::vector<mlir::memref::GlobalOp> globals;  // one per variable with elements
  std::vector<int> global_arg;
  for (size_t i = 0; i < signature.variables.size(); ++i) {
    const Node& node = graph.node(signature.variables[i]);
    if (node.outputs[0].shape.NumElements() == 0) continue;
    global_arg.push_back(static_cast<int>(i));
    KILN_ASSIGN_OR_RETURN(TensorData value, node.op->initial_value(node));
    auto tensor_type = TensorTypeOf(value.type(), ctx);
    globals.push_back(mlir::memref::GlobalOp::create(
        b, loc, b.getStringAttr(absl::StrCat(function_name, "_value_", i)),
        b.getStringAttr("private"), mlir::TypeAttr::get(mlir::cast<mlir::MemRefType>(arg_types[i])),
        TensorDataAttr(value, tensor_type), b.getUnitAttr(), b.getI64IntegerAttr(64)));
  }
  auto func = mlir::func::FuncOp::create(b, loc, function_name, b.getFunctionType(arg_types, {}));
  mlir::Block* entry = func.addEntryBlock();
  b.setInsertionPointToStart(entry);
  for (size_t i = 0; i < globals.size(); ++i) {
    mlir::Value initial = mlir::memref::GetGlobalOp::create(
        b, loc, globals[i].getType(), mlir::FlatSymbolRefAttr::get(ctx, globals[i].getSymName()));
    mlir::memref::CopyOp::create(b, loc, initial, entry->getArgument(global_arg[i]));
  }
  mlir::func::ReturnOp::create(b, loc);
  return absl::OkStatus();
}

}  // namespace kiln
