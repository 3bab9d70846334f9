#include <cmath>
#include <functional>
#include <random>
#include <string>

#include "catch2/catch.hpp"
#include "graph/autodiff.h"
#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/ops.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

constexpr int kTrials = 20;
constexpr double kTolerance = 1e-6;

struct UnaryCase {
  std::string name;
  std::function<Tensor(Tensor)> build;
  double lo, hi;   // input domain
  bool symmetric;  // also sample [-hi, -lo]
};

std::vector<UnaryCase> UnaryCases() {
  return {
      {"Neg", [](Tensor x) { return ops::Neg(x); }, -2, 2, false},
      {"Abs", [](Tensor x) { return ops::Abs(x); }, 0.1, 2, true},
      {"Sign", [](Tensor x) { return ops::Sign(x); }, 0.1, 2, true},
      {"Exp", [](Tensor x) { return ops::Exp(x); }, -2, 2, false},
      {"Log", [](Tensor x) { return ops::Log(x); }, 0.2, 3, false},
      {"Log1p", [](Tensor x) { return ops::Log1p(x); }, -0.5, 2, false},
      {"Sqrt", [](Tensor x) { return ops::Sqrt(x); }, 0.2, 3, false},
      {"Rsqrt", [](Tensor x) { return ops::Rsqrt(x); }, 0.2, 3, false},
      {"Square", [](Tensor x) { return ops::Square(x); }, -2, 2, false},
      {"Reciprocal", [](Tensor x) { return ops::Reciprocal(x); }, 0.3, 3, true},
      {"Tanh", [](Tensor x) { return ops::Tanh(x); }, -3, 3, false},
      {"Sigmoid", [](Tensor x) { return ops::Sigmoid(x); }, -4, 4, false},
      {"Relu", [](Tensor x) { return ops::Relu(x); }, 0.05, 2, true},
      {"Gelu", [](Tensor x) { return ops::Gelu(x); }, -3, 3, false},
      {"GeluTanh", [](Tensor x) { return ops::Gelu(x, true); }, -3, 3, false},
      {"Erf", [](Tensor x) { return ops::Erf(x); }, -2, 2, false},
      {"Sin", [](Tensor x) { return ops::Sin(x); }, -3, 3, false},
      {"Cos", [](Tensor x) { return ops::Cos(x); }, -3, 3, false},
      {"Floor", [](Tensor x) { return ops::Floor(x); }, -3, 3, false},
      {"Identity", [](Tensor x) { return ops::Identity(x); }, -2, 2, false},
      // f64 → f64: finite differences through an f32 round trip would measure f32 rounding, not the
      // rule.
      {"Cast", [](Tensor x) { return ops::Cast(x, DType::kF64); }, -2, 2, false},
      {"Reshape", [](Tensor x) { return ops::Reshape(x, Shape({-1})); }, -2, 2, false},
  };
}

TEST_CASE("Unary ops: gradients match central differences in float64") {
  std::mt19937_64 rng(1);
  for (const UnaryCase& op : UnaryCases()) {
    for (int trial = 0; trial < kTrials; ++trial) {
      Graph g;
      Shape shape = RandomShape(rng);
      Tensor x = ops::Placeholder(g, "x", DType::kF64, shape);
      Tensor y = op.build(x);
      Literal value = RandomLiteral(DType::kF64, shape, rng, op.lo, op.hi);
      if (op.symmetric) {
        for (double& v : value.values) v = rng() % 2 ? v : -v;
      }
      auto check = CheckGradients(y, {x}, {{"x", value}}, trial);
      INFO(op.name << " trial " << trial << " shape " << shape.ToString());
      REQUIRE_THAT(check.status(), IsOk());
      INFO(check->worst);
      REQUIRE(check->max_error <= kTolerance);
    }
  }
}

struct BinaryCase {
  std::string name;
  std::function<Tensor(Tensor, Tensor)> build;
  double a_lo, a_hi, b_lo, b_hi;
  bool b_symmetric;
};

TEST_CASE("Binary ops: gradients with broadcasting match central differences") {
  std::vector<BinaryCase> cases = {
      {"Add", [](Tensor a, Tensor b) { return a + b; }, -2, 2, -2, 2, false},
      {"Sub", [](Tensor a, Tensor b) { return a - b; }, -2, 2, -2, 2, false},
      {"Mul", [](Tensor a, Tensor b) { return a * b; }, -2, 2, -2, 2, false},
      {"Div", [](Tensor a, Tensor b) { return a / b; }, -2, 2, 0.5, 2, true},
      {"Pow", [](Tensor a, Tensor b) { return ops::Pow(a, b); }, 0.5, 2, -2, 2, false},
      {"Maximum", [](Tensor a, Tensor b) { return ops::Maximum(a, b); }, -2, 2, -2, 2, false},
      {"Minimum", [](Tensor a, Tensor b) { return ops::Minimum(a, b); }, -2, 2, -2, 2, false},
      {"Select",
       [](Tensor a, Tensor b) {
         return ops::Select(ops::Greater(a, ops::ZerosLike(a)), a * 3.0, b);
       },
       -2, 2, -2, 2, false},
      {"BroadcastTo",
       [](Tensor a, Tensor b) {
         return ops::BroadcastTo(a, BroadcastShapes(a.shape(), b.shape()).value()) * b;
       },
       -2, 2, -2, 2, false},
  };
  std::mt19937_64 rng(2);
  for (const BinaryCase& op : cases) {
    for (int trial = 0; trial < kTrials; ++trial) {
      Graph g;
      Shape big = RandomShape(rng, 0, 3);
      Shape small = RandomBroadcastableShape(big, rng);
      bool swap = rng() % 2;
      Shape sa = swap ? small : big, sb = swap ? big : small;
      Tensor a = ops::Placeholder(g, "a", DType::kF64, sa);
      Tensor b = ops::Placeholder(g, "b", DType::kF64, sb);
      Tensor y = op.build(a, b);
      Literal va = RandomLiteral(DType::kF64, sa, rng, op.a_lo, op.a_hi);
      Literal vb = RandomLiteral(DType::kF64, sb, rng, op.b_lo, op.b_hi);
      if (op.b_symmetric) {
        for (double& v : vb.values) v = rng() % 2 ? v : -v;
      }
      INFO(op.name << " trial " << trial << " shapes " << sa.ToString() << " " << sb.ToString());
      auto check = CheckGradients(y, {a, b}, {{"a", va}, {"b", vb}}, trial);
      REQUIRE_THAT(check.status(), IsOk());
      INFO(check->worst);
      REQUIRE(check->max_error <= kTolerance);
    }
  }
}

// Runs y on no inputs and returns its values.
std::vector<double> Eval(Graph& g, Tensor y) {
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  auto out = interpreter->Run({}, {y});
  REQUIRE_THAT(out.status(), IsOk());
  return (*out)[0].values;
}

Tensor Vec(Graph& g, std::vector<double> v, DType dtype = DType::kF64) {
  int64_t n = static_cast<int64_t>(v.size());
  return ops::Const(g, Literal(dtype, {n}, std::move(v)));
}

TEST_CASE("Cast's gradient converts back to the input's dtype") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF64, {3});
  Tensor y = ops::Cast(x, DType::kF32);
  auto grads = AddGradients(ops::ReduceSum(y * 3.0), {x});
  REQUIRE_THAT(grads.status(), IsOk());
  REQUIRE((*grads)[0].dtype() == DType::kF64);
  auto interpreter = Interpreter::Create(g);
  auto out = interpreter->Run({{"x", Literal(DType::kF64, {3}, {0.1, 0.2, 0.3})}}, *grads);
  REQUIRE_THAT(out.status(), IsOk());
  REQUIRE((*out)[0].values == std::vector<double>{3, 3, 3});
}

TEST_CASE("Unary kernels compute known values") {
  Graph g;
  Tensor x = Vec(g, {-1, 0, 0.5, 1});
  REQUIRE(Eval(g, ops::Gelu(x))[3] == Approx(0.8413447460685429).epsilon(1e-15));
  REQUIRE(Eval(g, ops::Gelu(x, true))[3] == Approx(0.8411919906082768).epsilon(1e-15));
  REQUIRE(Eval(g, ops::Erf(x))[2] == Approx(0.5204998778130465).epsilon(1e-15));
  REQUIRE(Eval(g, ops::Sign(x)) == std::vector<double>{-1, 0, 1, 1});
  REQUIRE(Eval(g, ops::Relu(x)) == std::vector<double>{0, 0, 0.5, 1});
  REQUIRE(Eval(g, ops::Floor(Vec(g, {-1.5, 2.5}))) == std::vector<double>{-2, 2});
  // Sigmoid does not overflow at large magnitudes.
  std::vector<double> s = Eval(g, ops::Sigmoid(Vec(g, {-800, 800})));
  REQUIRE(s == std::vector<double>{0, 1});
}

TEST_CASE("Binary kernels broadcast and f32 graphs round to f32") {
  Graph g;
  Tensor a = ops::Const(g, Literal(DType::kF32, {2, 1}, {1, 2}));
  Tensor b = ops::Const(g, Literal(DType::kF32, {3}, {10, 20, 30}));
  REQUIRE(Eval(g, a + b) == std::vector<double>{11, 21, 31, 12, 22, 32});
  Tensor third = ops::Scalar(g, 1.0, DType::kF32) / ops::Scalar(g, 3.0, DType::kF32);
  REQUIRE(Eval(g, third)[0] == static_cast<double>(1.0f / 3.0f));
  // Integer division truncates; comparisons give bools.
  Tensor i = ops::Const(g, Literal(DType::kI32, {2}, {7, -7}));
  Tensor two = ops::Scalar(g, 2, DType::kI32);
  REQUIRE(Eval(g, i / two) == std::vector<double>{3, -3});
  REQUIRE(Eval(g, ops::Less(i, two)) == std::vector<double>{0, 1});
  REQUIRE(Eval(g, ops::LogicalNot(ops::Equal(i, i))) == std::vector<double>{0, 0});
}

TEST_CASE("Math ops reject bad inputs with clear messages") {
  {
    Graph g;
    Tensor i = ops::Placeholder(g, "i", DType::kI32, {2});
    ops::Exp(i);
    REQUIRE_THAT(g.status(),
                 StatusIs(absl::StatusCode::kInvalidArgument, "Exp 'Exp' (math_test.cc:"));
    REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                      "expects a floating-point input, got i32[2]"));
  }
  {
    Graph g;
    Tensor a = ops::Placeholder(g, "a", DType::kF32, {2});
    Tensor b = ops::Placeholder(g, "b", DType::kF64, {2});
    ops::Mul(a, b);
    REQUIRE_THAT(g.status(),
                 StatusIs(absl::StatusCode::kInvalidArgument, "dtypes differ: f32[2] vs f64[2]"));
  }
  {
    Graph g;
    Tensor a = ops::Placeholder(g, "a", DType::kF32, {2});
    ops::Select(a, a, a);
    REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                      "condition must be bool, got f32[2]"));
  }
  {
    Graph g;
    Tensor a = ops::Placeholder(g, "a", DType::kF32, {2});
    ops::LogicalAnd(a, a);
    REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument, "expects bool inputs"));
  }
}

}  // namespace
}  // namespace kiln
