// Loads a graph file and runs training steps on the interpreter, with every placeholder filled with
// a fixed pattern: built against kiln-graph-static (test/install/run.sh), it shows that a static
// link of the builder library keeps every op. Prints the losses; exits 1 unless they fall.
// Usage: interpret GRAPH_FILE
#include <iostream>
#include <memory>

#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "proto/graph_def.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: interpret GRAPH_FILE\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<kiln::Graph>> graph = kiln::LoadGraph(argv[1]);
  if (!graph.ok()) {
    std::cerr << "interpret: " << graph.status() << "\n";
    return 1;
  }
  absl::StatusOr<kiln::Interpreter> interpreter = kiln::Interpreter::Create(**graph);
  if (!interpreter.ok()) {
    std::cerr << "interpret: " << interpreter.status() << "\n";
    return 1;
  }
  kiln::Feeds feeds;
  for (const kiln::Node& node : (*graph)->nodes()) {
    if (!node.op->is_fed()) continue;
    kiln::Literal value(node.outputs[0].dtype, node.outputs[0].shape);
    for (size_t i = 0; i < value.values.size(); ++i) value.values[i] = 0.01 * (i % 50);
    feeds[node.name] = value;
  }
  feeds["learning_rate"] = kiln::Literal::Scalar(kiln::DType::kF32, 0.01);
  std::vector<kiln::Tensor> loss;
  for (const auto& [name, ref] : (*graph)->outputs()) {
    if (name == "loss") loss.push_back(kiln::Tensor(graph->get(), ref));
  }
  if (loss.empty()) {
    std::cerr << "interpret: the graph has no output 'loss'\n";
    return 1;
  }
  double first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    absl::StatusOr<std::vector<kiln::Literal>> out = interpreter->RunTrainingStep(feeds, loss);
    if (!out.ok()) {
      std::cerr << "interpret: " << out.status() << "\n";
      return 1;
    }
    last = (*out)[0].values[0];
    if (step == 0) first = last;
  }
  std::cout << "interpreter: loss " << first << " -> " << last << "\n";
  return last < first ? 0 : 1;
}
