#include <random>

#include "catch2/catch.hpp"
#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/ops.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

std::vector<double> Eval(Graph& g, Tensor y) {
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  auto out = interpreter->Run({}, {y});
  REQUIRE_THAT(out.status(), IsOk());
  return (*out)[0].values;
}

using Reducer = Tensor (*)(Tensor, std::vector<int64_t>, bool, SourceLoc);

TEST_CASE("Reductions: gradients over random axes match central differences") {
  const std::vector<std::pair<std::string, Reducer>> cases = {{"ReduceSum", ops::ReduceSum},
                                                              {"ReduceMean", ops::ReduceMean},
                                                              {"ReduceMax", ops::ReduceMax},
                                                              {"ReduceMin", ops::ReduceMin},
                                                              {"ReduceProd", ops::ReduceProd}};
  std::mt19937_64 rng(3);
  for (const auto& [name, reduce] : cases) {
    for (int trial = 0; trial < 20; ++trial) {
      Graph g;
      Shape shape = RandomShape(rng, 1, 3);
      std::vector<int64_t> axes;
      for (int d = 0; d < shape.rank(); ++d) {
        if (rng() % 2) axes.push_back(rng() % 2 ? d : d - shape.rank());  // negative axes too
      }
      const bool keep = rng() % 2;
      Tensor x = ops::Placeholder(g, "x", DType::kF64, shape);
      Tensor y = reduce(x, axes, keep, SourceLoc::Current());
      // Distinct, well-separated values: Max/Min have no ties, Prod no zeros.
      Literal v = RandomLiteral(DType::kF64, shape, rng, 0.5, 1.5);
      for (int64_t i = 0; i < v.size(); ++i) v.values[i] += 0.01 * i * (i % 2 ? 1 : -1);
      INFO(name << " trial " << trial << " shape " << shape.ToString() << " keep " << keep);
      auto check = CheckGradients(y, {x}, {{"x", v}}, trial);
      REQUIRE_THAT(check.status(), IsOk());
      INFO(check->worst);
      REQUIRE(check->max_error <= 1e-6);
    }
  }
}

TEST_CASE("Reduction kernels and shapes") {
  Graph g;
  Tensor x = ops::Const(g, Literal(DType::kF64, {2, 3}, {1, 5, 3, 4, 2, 6}));
  REQUIRE(Eval(g, ops::ReduceSum(x)) == std::vector<double>{21});
  REQUIRE(Eval(g, ops::ReduceSum(x, {0})) == std::vector<double>{5, 7, 9});
  REQUIRE(Eval(g, ops::ReduceMean(x, {-1})) == std::vector<double>{3, 4});
  REQUIRE(Eval(g, ops::ReduceMax(x, {1})) == std::vector<double>{5, 6});
  REQUIRE(Eval(g, ops::ReduceMin(x, {0})) == std::vector<double>{1, 2, 3});
  REQUIRE(Eval(g, ops::ReduceProd(x, {1})) == std::vector<double>{15, 48});
  REQUIRE(ops::ReduceSum(x, {1}, true).shape() == Shape({2, 1}));
  REQUIRE(Eval(g, ops::ArgMax(x, 1)) == std::vector<double>{1, 2});
  REQUIRE(Eval(g, ops::ArgMax(x, 0)) == std::vector<double>{1, 0, 1});
  REQUIRE(ops::ArgMax(x, -1).dtype() == DType::kI64);
  // Ties share the gradient of Max evenly.
  Graph h;
  Tensor t = ops::Placeholder(h, "t", DType::kF64, {3});
  auto check =
      CheckGradients(ops::ReduceMax(t), {t}, {{"t", Literal(DType::kF64, {3}, {2, 2, 1})}}, 0);
  REQUIRE_THAT(check.status(), IsOk());
}

TEST_CASE("Reductions reject bad axes") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3});
  ops::ReduceSum(x, {2});
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "ReduceSum 'ReduceSum' (reduce_test.cc:"));
  REQUIRE_THAT(g.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "axis 2 is out of range for rank 2"));
  Graph h;
  Tensor y = ops::Placeholder(h, "y", DType::kF32, {2, 3});
  ops::ReduceMean(y, {1, -1});
  REQUIRE_THAT(h.status(), StatusIs(absl::StatusCode::kInvalidArgument, "axis -1 is listed twice"));
  Graph k;
  ops::ArgMax(ops::Placeholder(k, "z", DType::kF32, {2}), 0, DType::kF32);
  REQUIRE_THAT(k.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "output_dtype must be an integer type, got f32"));
}

}  // namespace
}  // namespace kiln
