#include "graph/graph.h"

#include "catch2/catch.hpp"
#include "graph/interpreter.h"
#include "graph/ops.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

TEST_CASE("Builder infers shapes and the interpreter computes values") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3});
  Tensor b = ops::Const(g, Literal(DType::kF32, {3}, {1, 2, 3}));
  Tensor y = ops::Relu(x + b) * 2.0;
  REQUIRE_THAT(g.status(), IsOk());
  REQUIRE(y.type() == TensorType{DType::kF32, {2, 3}});

  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  auto out = interpreter->Run({{"x", Literal(DType::kF32, {2, 3}, {-5, 0, 1, 1, 1, -10})}}, {y});
  REQUIRE_THAT(out.status(), IsOk());
  REQUIRE((*out)[0].values == std::vector<double>{0, 4, 8, 4, 6, 0});
}

TEST_CASE("Errors name the op, node, shapes and the user's line, and are sticky") {
  Graph g;
  Tensor a = ops::Placeholder(g, "a", DType::kF32, {2, 3});
  Tensor b = ops::Placeholder(g, "b", DType::kF32, {4});
  const int line = __LINE__ + 1;
  Tensor c = a + b;
  REQUIRE_FALSE(c.valid());
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "Add 'Add' (graph_test.cc:" + std::to_string(line) +
                                        "): shapes [2,3] and [4] do not broadcast"));
  // Later errors are not reported: the first one stays.
  Tensor d = ops::Exp(ops::Placeholder(g, "i", DType::kI32, {1}));
  REQUIRE_FALSE(d.valid());
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument, "do not broadcast"));
}

TEST_CASE("Name scopes prefix node names and names are unique") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {});
  Tensor y, z;
  {
    NameScope s(g, "dense1");
    y = ops::Exp(x);
    z = ops::Exp(y);
  }
  REQUIRE(y.name() == "dense1/Exp");
  REQUIRE(z.name() == "dense1/Exp_1");
  ops::Placeholder(g, "x", DType::kF32, {});
  REQUIRE_THAT(g.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "Placeholder 'x' (graph_test.cc:"));
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument, "name is already used"));
}

}  // namespace
}  // namespace kiln
