#include "graph/autodiff.h"

#include <random>

#include "catch2/catch.hpp"
#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

// A float op without a gradient rule, to test the error for a path through one.
KILN_REGISTER_OP(OpDef("TestOpaque")
                     .Doc("test only: x, without a gradient")
                     .Inputs({"x"})
                     .Shape(ops_internal::SameAsInput())
                     .NotDifferentiable("opaque to autodiff in this test")
                     .Kernel([](KernelContext& c) {
                       c.out().values = c.in(0).values;
                       return absl::OkStatus();
                     }));

std::vector<Literal> Run(Graph& g, const Feeds& feeds, const std::vector<Tensor>& fetches) {
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  auto out = interpreter->Run(feeds, fetches);
  REQUIRE_THAT(out.status(), IsOk());
  return *out;
}

TEST_CASE("Fan-out gradients accumulate and broadcasts sum back") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF64, {3});
  Tensor b = ops::Placeholder(g, "b", DType::kF64, {});
  // loss = sum(x*x + x*b) → dx = 2x + b, db = sum(x)
  Tensor loss = ops::ReduceSum(x * x + x * b);
  auto grads = AddGradients(loss, {x, b});
  REQUIRE_THAT(grads.status(), IsOk());
  REQUIRE((*grads)[1].shape() == Shape({}));
  auto out =
      Run(g, {{"x", Literal(DType::kF64, {3}, {1, 2, 3})}, {"b", Literal::Scalar(DType::kF64, 10)}},
          *grads);
  REQUIRE(out[0].values == std::vector<double>{12, 14, 16});
  REQUIRE(out[1].values == std::vector<double>{6});
}

TEST_CASE("StopGradient, integer tensors and unconnected inputs stop the flow") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF64, {2});
  Tensor unused = ops::Placeholder(g, "unused", DType::kF64, {2, 2});
  Tensor through_int = ops::Cast(ops::Cast(x, DType::kI32), DType::kF64);
  Tensor loss = ops::ReduceSum(ops::StopGradient(x) * x + through_int);
  auto grads = AddGradients(loss, {x, unused});
  REQUIRE_THAT(grads.status(), IsOk());
  auto out =
      Run(g, {{"x", Literal(DType::kF64, {2}, {3, 4})}, {"unused", Literal(DType::kF64, {2, 2})}},
          *grads);
  REQUIRE(out[0].values == std::vector<double>{3, 4});  // only the non-stopped factor
  REQUIRE(out[1].values == std::vector<double>{0, 0, 0, 0});
  REQUIRE(out[1].shape == Shape({2, 2}));
}

TEST_CASE("A non-differentiable op on the path is a clear error") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF64, {2});
  const int line = __LINE__ + 1;
  Tensor y = g.Output(g.AddNode("TestOpaque", {x}, {}, SourceLoc::Current(), "opaque"));
  Tensor loss = ops::ReduceSum(ops::Exp(y));
  REQUIRE_THAT(AddGradients(loss, {x}).status(),
               StatusIs(absl::StatusCode::kInvalidArgument,
                        "TestOpaque 'opaque' (autodiff_test.cc:" + std::to_string(line) +
                            ") is not differentiable (opaque to autodiff in this test)"));
  // Behind a StopGradient the same op is fine.
  Graph h;
  Tensor a = ops::Placeholder(h, "a", DType::kF64, {2});
  Tensor opaque =
      h.Output(h.AddNode("TestOpaque", {ops::StopGradient(a)}, {}, SourceLoc::Current()));
  REQUIRE_THAT(AddGradients(ops::ReduceSum(opaque * a), {a}).status(), IsOk());
}

TEST_CASE("AddGradients validates its arguments") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF64, {2});
  REQUIRE_THAT(AddGradients(x * 2.0, {x}).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "must be a scalar, got f64[2]"));
  Tensor i = ops::ReduceSum(ops::Cast(x, DType::kI32));
  REQUIRE_THAT(AddGradients(i, {x}).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "must be floating point, got i32[]"));
  Graph h;
  Tensor other = ops::Placeholder(h, "o", DType::kF64, {});
  REQUIRE_THAT(AddGradients(ops::ReduceSum(x), {other}).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "must belong to loss's graph"));
  // A seed for a non-scalar loss: vector-Jacobian product.
  Tensor seed = ops::Const(g, Literal(DType::kF64, {2}, {1, -1}));
  auto grads = AddGradients(x * x, {x}, seed);
  REQUIRE_THAT(grads.status(), IsOk());
  REQUIRE(Run(g, {{"x", Literal(DType::kF64, {2}, {2, 5})}}, *grads)[0].values ==
          std::vector<double>{4, -10});
}

TEST_CASE("Gradient nodes point at the forward op's source line") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF64, {2});
  const int line = __LINE__ + 1;
  Tensor y = ops::Tanh(x);
  auto grads = AddGradients(ops::ReduceSum(y), {x});
  REQUIRE_THAT(grads.status(), IsOk());
  const Node& n = g.node((*grads)[0].node());
  REQUIRE(n.source == "autodiff_test.cc:" + std::to_string(line));
  REQUIRE(n.name.rfind("gradients/", 0) == 0);
}

// Second order: CheckGradients differentiates the first-order gradient once more.
TEST_CASE("Gradients of gradients: Tanh, Exp, Mul, MatMul") {
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 20; ++trial) {
    Graph g;
    Shape shape = RandomShape(rng, 1, 2, 3);
    Tensor x = ops::Placeholder(g, "x", DType::kF64, shape);
    Tensor w = ops::Placeholder(g, "w", DType::kF64, shape);
    Tensor first_tanh = AddGradients(ops::ReduceSum(ops::Tanh(x) * w), {x}).value()[0];
    Tensor first_exp = AddGradients(ops::ReduceSum(ops::Exp(x) * w), {x}).value()[0];
    Tensor first_mul = AddGradients(ops::ReduceSum(x * x * w), {x}).value()[0];
    Feeds feeds = {{"x", RandomLiteral(DType::kF64, shape, rng, -1.5, 1.5)},
                   {"w", RandomLiteral(DType::kF64, shape, rng)}};
    for (Tensor first : {first_tanh, first_exp, first_mul}) {
      auto check = CheckGradients(first, {x, w}, feeds, trial);
      REQUIRE_THAT(check.status(), IsOk());
      INFO("trial " << trial << " " << check->worst);
      REQUIRE(check->max_error <= 1e-6);
    }
  }
  for (int trial = 0; trial < 20; ++trial) {
    Graph g;
    int64_t m = 1 + rng() % 3, k = 1 + rng() % 3, n = 1 + rng() % 3;
    Tensor a = ops::Placeholder(g, "a", DType::kF64, {m, k});
    Tensor b = ops::Placeholder(g, "b", DType::kF64, {k, n});
    // tanh makes the loss non-linear in the product, so the second derivative is not trivially
    // zero.
    Tensor first = AddGradients(ops::ReduceSum(ops::Tanh(ops::MatMul(a, b))), {a}).value()[0];
    Feeds feeds = {{"a", RandomLiteral(DType::kF64, {m, k}, rng)},
                   {"b", RandomLiteral(DType::kF64, {k, n}, rng)}};
    auto check = CheckGradients(first, {a, b}, feeds, trial);
    REQUIRE_THAT(check.status(), IsOk());
    INFO("matmul trial " << trial << " " << check->worst);
    REQUIRE(check->max_error <= 1e-6);
  }
}

}  // namespace
}  // namespace kiln
