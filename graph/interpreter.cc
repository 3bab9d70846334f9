#include "graph/interpreter.h"

#include "absl/strings/str_cat.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace kiln {

absl::StatusOr<Interpreter> Interpreter::Create(const Graph& graph) {
  KILN_RETURN_IF_ERROR(graph.status());
  Interpreter interpreter(graph);
  for (const Node& node : graph.nodes()) {
    if (!node.op->is_stateful()) continue;
    KILN_ASSIGN_OR_RETURN(TensorData value, node.op->initial_value(node));
    interpreter.variables_.emplace(node.name, value.ToLiteral());
  }
  return interpreter;
}

absl::Status Interpreter::SetVariable(const std::string& name, Literal value) {
  auto it = variables_.find(name);
  if (it == variables_.end()) {
    return absl::NotFoundError(absl::StrCat("no variable named '", name, "'"));
  }
  if (!(value.type() == it->second.type()) || value.size() != value.shape.NumElements()) {
    return absl::InvalidArgumentError(absl::StrCat("variable '", name, "' is ",
                                                   it->second.type().ToString(), ", got ",
                                                   value.type().ToString()));
  }
  value.RoundToDType();
  it->second = std::move(value);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Literal>> Interpreter::Run(const Feeds& feeds,
                                                      const std::vector<Tensor>& fetches) {
  return Execute(feeds, fetches, false);
}

absl::StatusOr<std::vector<Literal>> Interpreter::RunTrainingStep(
    const Feeds& feeds, const std::vector<Tensor>& fetches) {
  return Execute(feeds, fetches, true);
}

absl::StatusOr<std::vector<Literal>> Interpreter::Execute(const Feeds& feeds,
                                                          const std::vector<Tensor>& fetches,
                                                          bool apply_updates) {
  const Graph& g = *graph_;
  for (const auto& [name, value] : feeds) {
    const Node* node = g.FindNode(name);
    if (node == nullptr || !node->op->is_fed()) {
      return absl::InvalidArgumentError(
          absl::StrCat("feed '", name, "' is not a Placeholder of this graph"));
    }
    if (!(value.type() == node->outputs[0]) || value.size() != value.shape.NumElements()) {
      return absl::InvalidArgumentError(absl::StrCat("feed '", name, "': expected ",
                                                     node->outputs[0].ToString(), ", got ",
                                                     value.type().ToString()));
    }
  }

  // Mark what the fetches (and updates) need; ids are a topological order.
  std::vector<OutputRef> roots;
  for (const Tensor& t : fetches) {
    if (!t.valid() || t.graph() != &g) {
      return absl::InvalidArgumentError("fetch is not a valid tensor of this graph");
    }
    roots.push_back(t.ref());
  }
  const auto& updates = g.training().updates;
  if (apply_updates) {
    for (const auto& [var, value] : updates) roots.push_back(value.ref());
  }
  std::vector<bool> needed(g.num_nodes(), false);
  for (const OutputRef& r : roots) needed[r.node] = true;
  // Effects happen whether or not anything uses their results.
  for (const Node& node : g.nodes()) needed[node.id] = needed[node.id] || node.op->has_effects();
  for (int id = g.num_nodes() - 1; id >= 0; --id) {
    if (!needed[id]) continue;
    for (const OutputRef& in : g.node(id).inputs) needed[in.node] = true;
  }

  std::vector<std::vector<Literal>> values(g.num_nodes());
  for (int id = 0; id < g.num_nodes(); ++id) {
    if (!needed[id]) continue;
    const Node& node = g.node(id);
    if (node.op->is_fed()) {
      auto it = feeds.find(node.name);
      if (it == feeds.end()) {
        return absl::InvalidArgumentError(absl::StrCat(node.Describe(), " was not fed"));
      }
      values[id] = {it->second};
      values[id][0].RoundToDType();
      continue;
    }
    if (node.op->is_stateful()) {
      values[id] = {variables_.at(node.name)};
      continue;
    }
    std::vector<Literal> outputs;
    for (const TensorType& t : node.outputs) outputs.emplace_back(t.dtype, t.shape);
    KernelContext context{node, {}, outputs};
    for (const OutputRef& in : node.inputs) context.inputs.push_back(&values[in.node][in.index]);
    absl::Status s = node.op->kernel(context);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat(node.Describe(), ": ", s.message()));
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      if (!(outputs[i].type() == node.outputs[i]) ||
          outputs[i].size() != node.outputs[i].shape.NumElements()) {
        return absl::InternalError(absl::StrCat(node.Describe(), ": kernel produced ",
                                                outputs[i].type().ToString(), " for ",
                                                node.outputs[i].ToString()));
      }
      outputs[i].RoundToDType();
    }
    values[id] = std::move(outputs);
  }

  std::vector<Literal> results;
  for (const Tensor& t : fetches) results.push_back(values[t.node()][t.index()]);
  if (apply_updates) {
    for (const auto& [var, value] : updates) {
      variables_[g.node(var).name] = values[value.node()][value.index()];
    }
  }
  return results;
}

}  // namespace kiln
