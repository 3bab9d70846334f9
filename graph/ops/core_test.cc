// Sources, casts, reshapes, random ops and the composites (Dropout, LayerNorm, BatchNorm).
#include <cmath>
#include <random>

#include "catch2/catch.hpp"
#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/ops.h"
#include "graph/random.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

std::vector<double> Eval(Graph& g, Tensor y, const Feeds& feeds = {}) {
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  auto out = interpreter->Run(feeds, {y});
  REQUIRE_THAT(out.status(), IsOk());
  return (*out)[0].values;
}

TEST_CASE("Cast rounds to the target dtype") {
  Graph g;
  Tensor x = ops::Const(g, Literal(DType::kF64, {4}, {1.7, -1.7, 300, 0.1}));
  REQUIRE(Eval(g, ops::Cast(x, DType::kI32)) == std::vector<double>{1, -1, 300, 0});
  REQUIRE(Eval(g, ops::Cast(x, DType::kI8)) == std::vector<double>{1, -1, 44, 0});  // wraps
  REQUIRE(Eval(g, ops::Cast(x, DType::kBool)) == std::vector<double>{1, 1, 1, 1});
  REQUIRE(Eval(g, ops::Cast(x, DType::kF16))[3] == 0.0999755859375);
  REQUIRE(Eval(g, ops::Cast(x, DType::kBF16))[3] == 0.10009765625);
}

TEST_CASE("Reshape infers one dimension and rejects size changes") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {4, 6});
  REQUIRE(ops::Reshape(x, {2, -1, 3}).shape() == Shape({2, 4, 3}));
  ops::Reshape(x, {5, -1});
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "cannot reshape f32[4,6] (24 elements) to [5,-1]"));
  Graph h;
  ops::BroadcastTo(ops::Placeholder(h, "x", DType::kF32, {3}), {2, 4});
  REQUIRE_THAT(h.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "cannot broadcast f32[3] to [2,4]"));
}

TEST_CASE("Attributes are checked against the op definition") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2});
  g.AddNode("Cast", {x}, {{"dtype", std::string("f64")}}, SourceLoc::Current());
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "attribute 'dtype' must be dtype, got string"));
  Graph h;
  Tensor y = ops::Placeholder(h, "y", DType::kF32, {2});
  h.AddNode("Relu", {y}, {{"alpha", 0.1}}, SourceLoc::Current());
  REQUIRE_THAT(h.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "unknown attribute 'alpha' (Relu has: none)"));
  Graph k;
  k.AddNode("Cast", {ops::Placeholder(k, "z", DType::kF32, {2})}, {}, SourceLoc::Current());
  REQUIRE_THAT(k.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "missing required attribute 'dtype' (dtype)"));
  Graph m;
  m.AddNode("NoSuchOp", {}, {}, SourceLoc::Current());
  REQUIRE_THAT(m.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "NoSuchOp 'NoSuchOp' (core_test.cc:"));
  REQUIRE_THAT(m.status(), StatusIs(absl::StatusCode::kInvalidArgument, "unknown op"));
  Graph n;
  Tensor w = ops::Placeholder(n, "w", DType::kF32, {2});
  n.AddNode("Add", {w}, {}, SourceLoc::Current());
  REQUIRE_THAT(n.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "expects 2 inputs (a, b), got 1"));
}

TEST_CASE("Handles from other graphs and empty handles are rejected") {
  Graph g, h;
  Tensor a = ops::Placeholder(g, "a", DType::kF32, {2});
  Tensor b = ops::Placeholder(h, "b", DType::kF32, {2});
  ops::Add(a, b);
  REQUIRE_THAT(g.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "input 1 belongs to another graph"));
  Graph k;
  ops::Add(ops::Placeholder(k, "c", DType::kF32, {2}), Tensor());
  REQUIRE_THAT(k.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "input 1 is an empty Tensor handle"));
}

TEST_CASE("Interpreter checks feeds") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2});
  Tensor y = ops::Exp(x);
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  REQUIRE_THAT(interpreter->Run({}, {y}).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "Placeholder 'x' (core_test.cc:"));
  REQUIRE_THAT(interpreter->Run({}, {y}).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "was not fed"));
  REQUIRE_THAT(
      interpreter->Run({{"x", Literal(DType::kF32, {3})}}, {y}).status(),
      StatusIs(absl::StatusCode::kInvalidArgument, "feed 'x': expected f32[2], got f32[3]"));
  REQUIRE_THAT(interpreter->Run({{"q", Literal(DType::kF32, {2})}}, {y}).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "feed 'q' is not a Placeholder"));
}

TEST_CASE("Variables initialize reproducibly and reject bad initializers") {
  Graph g;
  ops::Variable(g, "u", DType::kF32, {1000}, ops::Initializer::Uniform(-2, 2, 7));
  ops::Variable(g, "n", DType::kF64, {20000}, ops::Initializer::Normal(1, 3, 8));
  ops::Variable(g, "c", DType::kF32, {2}, ops::Initializer::Constant(0.5));
  REQUIRE_THAT(g.status(), IsOk());
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  const Literal& uv = interpreter->variables().at("u");
  double lo = 1e9, hi = -1e9;
  for (double v : uv.values) lo = std::min(lo, v), hi = std::max(hi, v);
  REQUIRE(lo >= -2);
  REQUIRE(hi < 2);
  REQUIRE(hi - lo > 3.9);
  const Literal& nv = interpreter->variables().at("n");
  double mean = 0, sq = 0;
  for (double v : nv.values) mean += v, sq += v * v;
  mean /= nv.size();
  double stddev = std::sqrt(sq / nv.size() - mean * mean);
  REQUIRE(mean == Approx(1).margin(0.05));
  REQUIRE(stddev == Approx(3).epsilon(0.03));
  REQUIRE(interpreter->variables().at("c").values == std::vector<double>{0.5, 0.5});
  // Same seed, same values: a second interpreter sees identical initial state.
  auto again = Interpreter::Create(g);
  REQUIRE(again->variables().at("u").values == uv.values);

  Graph h;
  ops::Variable(h, "bad", DType::kF32, {2}, ops::Initializer{"glorot", 0, 0, 1});
  REQUIRE_THAT(h.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "unknown initializer 'glorot'"));
  Graph k;
  ops::Variable(k, "v", DType::kF32, {2}, ops::Initializer::Value(Literal(DType::kF32, {3})));
  REQUIRE_THAT(k.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "initial value f32[3] does not match f32[2]"));
}

TEST_CASE("Random ops are a pure function of seed and counter") {
  Graph g;
  Tensor counter = ops::Placeholder(g, "step", DType::kI64, {});
  Tensor r = ops::RandomUniform(g, {64}, 42, -1, 1, DType::kF64, counter);
  Tensor z = ops::RandomNormal(g, {64}, 42, 0, 1, DType::kF32, counter);
  auto interpreter = Interpreter::Create(g);
  auto step = [&](double c) {
    return interpreter->Run({{"step", Literal::Scalar(DType::kI64, c)}}, {r, z}).value();
  };
  auto a = step(0), b = step(0), c = step(1);
  REQUIRE(a[0].values == b[0].values);
  REQUIRE(a[1].values == b[1].values);
  REQUIRE(a[0].values != c[0].values);
  for (double v : a[0].values) REQUIRE((v >= -1 && v < 1));
  REQUIRE(a[0].values[5] == -1 + 2 * UniformAt(42, 0, 5));
  ops::RandomUniform(g, {2}, 1, 0, 1, DType::kI32);
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "dtype must be floating point, got i32"));
}

TEST_CASE("Dropout keeps the expectation and zeroes about `rate` of the elements") {
  Graph g;
  Tensor x = ops::Const(g, Literal(DType::kF64, {10000}, std::vector<double>(10000, 1.0)));
  Tensor y = ops::Dropout(x, 0.25, 3);
  std::vector<double> v = Eval(g, y);
  int zeros = 0;
  double sum = 0;
  for (double e : v) {
    zeros += e == 0;
    sum += e;
    REQUIRE((e == 0 || e == Approx(1 / 0.75)));
  }
  REQUIRE(zeros == Approx(2500).margin(150));
  REQUIRE(sum / 10000 == Approx(1).margin(0.03));
  ops::Dropout(x, 1.0, 3);
  REQUIRE_THAT(g.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "rate must be in [0, 1), got 1"));
}

TEST_CASE("LayerNorm and BatchNorm: values and gradients") {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 20; ++trial) {
    Graph g;
    Shape shape = RandomShape(rng, 2, 3, 4);
    Shape last({shape[shape.rank() - 1]});
    Tensor x = ops::Placeholder(g, "x", DType::kF64, shape);
    Tensor gamma = ops::Placeholder(g, "gamma", DType::kF64, last);
    Tensor beta = ops::Placeholder(g, "beta", DType::kF64, last);
    Feeds feeds = {{"x", RandomLiteral(DType::kF64, shape, rng, -2, 2)},
                   {"gamma", RandomLiteral(DType::kF64, last, rng, 0.5, 1.5)},
                   {"beta", RandomLiteral(DType::kF64, last, rng)}};
    Tensor ln = ops::LayerNorm(x, gamma, beta, 1e-3);
    Tensor bn = ops::BatchNormTraining(x, gamma, beta, 1e-3)[0];
    for (Tensor y : {ln, bn}) {
      auto check = CheckGradients(y, {x, gamma, beta}, feeds, trial);
      REQUIRE_THAT(check.status(), IsOk());
      INFO("trial " << trial << " " << check->worst);
      REQUIRE(check->max_error <= 1e-6);
    }
    if (trial == 0) {
      // With gamma = 1 and beta = 0 each LayerNorm row has mean 0 and variance var/(var+eps).
      Feeds unit = feeds;
      for (double& v : unit["gamma"].values) v = 1;
      for (double& v : unit["beta"].values) v = 0;
      std::vector<double> y = Eval(g, ln, unit);
      const int64_t n = last[0];
      double mean = 0;
      for (int64_t i = 0; i < n; ++i) mean += y[i];
      REQUIRE(mean / n == Approx(0).margin(1e-12));
    }
  }
}

}  // namespace
}  // namespace kiln
