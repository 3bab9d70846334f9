// Linked statically (linkstatic, and //graph is not alwayslink), a program that only loads a graph
// file and runs it on the interpreter finds every op: the registry links every op family in
// (KILN_OP_FAMILIES), so a plain static link does not drop the ops that register themselves.
#include <memory>
#include <string>

#include "catch2/catch.hpp"
#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "proto/graph_def.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

TEST_CASE("a statically linked program loads and interprets a graph file") {
  absl::StatusOr<std::unique_ptr<Graph>> graph = LoadGraph("proto/testdata/mlp.pbtxt");
  REQUIRE_THAT(graph.status(), IsOk());
  absl::StatusOr<Interpreter> interpreter = Interpreter::Create(**graph);
  REQUIRE_THAT(interpreter.status(), IsOk());
  Feeds feeds;
  feeds["x"] = Literal(DType::kF32, {8, 4});
  feeds["labels"] = Literal(DType::kF32, {8, 3});
  feeds["lr"] = Literal::Scalar(DType::kF32, 0.1);
  std::vector<Tensor> fetches;
  for (const auto& [name, ref] : (*graph)->outputs()) fetches.push_back(Tensor(graph->get(), ref));
  REQUIRE_THAT(interpreter->RunTrainingStep(feeds, fetches).status(), IsOk());
}

TEST_CASE("ops of families the program never names are registered") {
  for (const char* op : {"Conv2D", "MaxPool2D", "Softmax", "MatMul", "Transpose", "Tanh",
                         "RandomUniform", "ReduceMax", "Const"}) {
    INFO(op);
    CHECK(OpRegistry::Find(op) != nullptr);
  }
}

}  // namespace
}  // namespace kiln
