// The reference interpreter: runs any graph, node by node, with the registry's reference kernels.
// Simple and obviously correct rather than fast: it is the oracle compiled code is checked against,
// never a benchmark. Values are computed in double and rounded to each output's dtype, so an f32
// graph sees f32 values and an f64 graph exact f64 arithmetic.
#ifndef KILN_GRAPH_INTERPRETER_H_
#define KILN_GRAPH_INTERPRETER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/types.h"

namespace kiln {

// Placeholder name → value.
using Feeds = std::map<std::string, Literal>;

class Interpreter {
 public:
  // Binds `graph` (which must outlive the interpreter) and initializes every Variable. Fails with
  // the graph's own error if building it failed.
  static absl::StatusOr<Interpreter> Create(const Graph& graph);

  // Computes `fetches` from `feeds`; only the nodes they need run, and every effectful node
  // (OpDef::Effects) with what it needs, in node order. Variables are read, not changed.
  absl::StatusOr<std::vector<Literal>> Run(const Feeds& feeds, const std::vector<Tensor>& fetches);
  // Like Run, and also computes the graph's training updates (TrainingInfo::updates) and assigns
  // them to their variables, all after every value of the step has been computed.
  absl::StatusOr<std::vector<Literal>> RunTrainingStep(const Feeds& feeds,
                                                       const std::vector<Tensor>& fetches);

  // Current variable values, by Variable node name.
  const std::map<std::string, Literal>& variables() const { return variables_; }
  // Replaces a variable's value; the type must match.
  absl::Status SetVariable(const std::string& name, Literal value);

 private:
  explicit Interpreter(const Graph& graph) : graph_(&graph) {}
  absl::StatusOr<std::vector<Literal>> Execute(const Feeds& feeds,
                                               const std::vector<Tensor>& fetches,
                                               bool apply_updates);

  const Graph* graph_;
  std::map<std::string, Literal> variables_;
};

}  // namespace kiln

#endif  // KILN_GRAPH_INTERPRETER_H_
