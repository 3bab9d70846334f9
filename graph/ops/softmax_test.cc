// Tests for graph/ops/softmax.cc: Softmax, LogSoftmax and the cross-entropy losses against direct
// computations, every gradient rule against central differences (and its own gradients), and the
// user-facing error messages, at build and at run time.
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "catch2/catch.hpp"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_testing.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

using namespace op_testing;  // NOLINT: the op families' shared test support

constexpr int kSecondOrderTrials = 5;

TEST_CASE("Softmax and loss ops are registered with docs and the intended differentiability") {
  const std::vector<std::pair<std::string, bool>> expected = {
      {"Softmax", true},
      {"LogSoftmax", true},
      {"SparseSoftmaxCrossEntropy", true},
      {"SoftmaxCrossEntropy", true},
  };
  RequireRegistered(expected);
}

// ---- Kernel values ----

TEST_CASE("Softmax and LogSoftmax: rows sum to 1, match exp/sum, and are stable") {
  Graph g;
  Literal x(DType::kF64, {2, 3}, {1, 2, 3, 1000, 1001, 999});
  Tensor tx = ops::Const(g, x);
  std::vector<Literal> out =
      Run(g, {}, {ops::Softmax(tx), ops::LogSoftmax(tx), ops::Softmax(tx, 0)});
  for (int row = 0; row < 2; ++row) {
    double sum = 0, exp_sum = 0;
    const double shift = row == 0 ? 0 : 1000;  // exp(1000) overflows: compare shifted
    for (int j = 0; j < 3; ++j) exp_sum += std::exp(x.values[row * 3 + j] - shift);
    for (int j = 0; j < 3; ++j) {
      const double p = out[0].values[row * 3 + j];
      sum += p;
      REQUIRE(std::isfinite(p));
      // x - logsumexp(x) loses ~ulp(1000) absolutely: compare relatively.
      const double expected = std::exp(x.values[row * 3 + j] - shift) / exp_sum;
      REQUIRE(std::fabs(p - expected) <= 1e-12 * expected);
      REQUIRE(std::fabs(out[1].values[row * 3 + j] - std::log(p)) <= 1e-12);
    }
    REQUIRE(std::fabs(sum - 1) <= 1e-12);
  }
  // Along axis 0 each column's pair sums to 1.
  for (int j = 0; j < 3; ++j) {
    REQUIRE(std::fabs(out[2].values[j] + out[2].values[3 + j] - 1) <= 1e-12);
  }
  REQUIRE(out[2].values[3] == 1.0);  // exp(1 - 1000) underflows: the 1000 takes all the mass
}

TEST_CASE("Cross-entropy losses equal -log softmax at the label") {
  std::mt19937_64 rng(24);
  Graph g;
  Literal logits = RandomF64({3, 4}, rng, -3, 3);
  Literal labels(DType::kI32, {3}, {2, 0, 3});
  Literal one_hot(DType::kF64, {3, 4});
  for (int i = 0; i < 3; ++i) one_hot.values[i * 4 + static_cast<int>(labels.values[i])] = 1;
  Literal soft = RandomF64({3, 4}, rng, 0, 1);
  Tensor tl = ops::Const(g, logits);
  std::vector<Literal> out =
      Run(g, {},
          {ops::SparseSoftmaxCrossEntropy(tl, ops::Const(g, labels)),
           ops::SoftmaxCrossEntropy(tl, ops::Const(g, one_hot)),
           ops::SoftmaxCrossEntropy(tl, ops::Const(g, soft)), ops::LogSoftmax(tl)});
  REQUIRE(out[0].shape == Shape({3}));
  for (int i = 0; i < 3; ++i) {
    double exp_sum = 0;
    for (int j = 0; j < 4; ++j) exp_sum += std::exp(logits.values[i * 4 + j]);
    const int label = static_cast<int>(labels.values[i]);
    const double expected = -std::log(std::exp(logits.values[i * 4 + label]) / exp_sum);
    REQUIRE(std::fabs(out[0].values[i] - expected) <= 1e-12);
    REQUIRE(std::fabs(out[1].values[i] - expected) <= 1e-12);
    double dense = 0;
    for (int j = 0; j < 4; ++j) dense -= soft.values[i * 4 + j] * out[3].values[i * 4 + j];
    REQUIRE(std::fabs(out[2].values[i] - dense) <= 1e-12);
  }
}

// ---- Gradients (float64, central differences) ----

TEST_CASE("Softmax and LogSoftmax gradients along random axes") {
  std::mt19937_64 rng(39);
  for (bool log : {false, true}) {
    for (int trial = 0; trial < kTrials; ++trial) {
      const Shape shape = RandomShape(rng, 1, 3, 4);
      const int64_t axis = UniformInt(rng, -shape.rank(), shape.rank() - 1);
      INFO((log ? "LogSoftmax" : "Softmax")
           << " trial " << trial << " " << shape.ToString() << " axis " << axis);
      Graph g;
      Tensor x = ops::Placeholder(g, "x", DType::kF64, shape);
      Tensor y = log ? ops::LogSoftmax(x, axis) : ops::Softmax(x, axis);
      RequireGradientsMatch(y, {x}, {{"x", RandomF64(shape, rng, -3, 3)}}, trial);
    }
  }
}

TEST_CASE("SparseSoftmaxCrossEntropy gradients") {
  std::mt19937_64 rng(40);
  for (int trial = 0; trial < kTrials; ++trial) {
    const int64_t n = UniformInt(rng, 1, 4), c = UniformInt(rng, 1, 5);
    const DType label_dtype = trial % 2 ? DType::kI32 : DType::kI64;
    Literal labels(label_dtype, Shape({n}));
    for (double& v : labels.values) v = static_cast<double>(UniformInt(rng, 0, c - 1));
    INFO("trial " << trial << " logits [" << n << "," << c << "] labels " << labels.ToString());
    Graph g;
    Tensor logits = ops::Placeholder(g, "logits", DType::kF64, {n, c});
    Tensor tl = ops::Placeholder(g, "labels", label_dtype, {n});
    // Only the logits: labels are integers (no gradient, and not perturbable).
    RequireGradientsMatch(ops::SparseSoftmaxCrossEntropy(logits, tl), {logits},
                          {{"logits", RandomF64({n, c}, rng, -3, 3)}, {"labels", labels}}, trial);
  }
}

TEST_CASE("SoftmaxCrossEntropy gradients with respect to logits and labels") {
  std::mt19937_64 rng(41);
  for (int trial = 0; trial < kTrials; ++trial) {
    const int64_t n = UniformInt(rng, 1, 4), c = UniformInt(rng, 1, 5);
    // Unnormalized labels too: the rule is exact for any label mass, not only distributions.
    Literal labels = RandomF64({n, c}, rng, 0, 1);
    if (trial % 2) {
      for (int64_t i = 0; i < n; ++i) {
        double sum = 0;
        for (int64_t j = 0; j < c; ++j) sum += labels.values[i * c + j];
        for (int64_t j = 0; j < c; ++j) labels.values[i * c + j] /= sum;
      }
    }
    INFO("trial " << trial << " [" << n << "," << c << "]");
    Graph g;
    Tensor logits = ops::Placeholder(g, "logits", DType::kF64, {n, c});
    Tensor tl = ops::Placeholder(g, "labels", DType::kF64, {n, c});
    RequireGradientsMatch(ops::SoftmaxCrossEntropy(logits, tl), {logits, tl},
                          {{"logits", RandomF64({n, c}, rng, -3, 3)}, {"labels", labels}}, trial);
  }
}

TEST_CASE("Softmax and cross-entropy gradient rules are differentiable (second order)") {
  std::mt19937_64 rng(45);
  for (int trial = 0; trial < kSecondOrderTrials; ++trial) {
    INFO("trial " << trial);
    {
      Graph g;
      Tensor x = ops::Placeholder(g, "x", DType::kF64, {2, 4});
      Feeds feeds = {{"x", RandomF64({2, 4}, rng, -2, 2)}};
      RequireSecondOrderMatches(ops::Softmax(x, 0), {x}, feeds, trial);
      Graph g2;
      Tensor x2 = ops::Placeholder(g2, "x", DType::kF64, {2, 4});
      RequireSecondOrderMatches(ops::LogSoftmax(x2), {x2}, feeds, trial);
    }
    {
      Graph g;
      Tensor logits = ops::Placeholder(g, "logits", DType::kF64, {3, 4});
      Tensor labels = ops::Placeholder(g, "labels", DType::kI64, {3});
      RequireSecondOrderMatches(ops::SparseSoftmaxCrossEntropy(logits, labels), {logits},
                                {{"logits", RandomF64({3, 4}, rng, -2, 2)},
                                 {"labels", Literal(DType::kI64, {3}, {3, 0, 1})}},
                                trial);
    }
    {
      Graph g;
      Tensor logits = ops::Placeholder(g, "logits", DType::kF64, {3, 4});
      Tensor labels = ops::Placeholder(g, "labels", DType::kF64, {3, 4});
      RequireSecondOrderMatches(
          ops::SoftmaxCrossEntropy(logits, labels), {logits, labels},
          {{"logits", RandomF64({3, 4}, rng, -2, 2)}, {"labels", RandomF64({3, 4}, rng, 0, 1)}},
          trial);
    }
  }
}

// ---- Errors ----

TEST_CASE("Softmax and cross-entropy errors") {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::Softmax(ops::Placeholder(g, "x", DType::kI32, {2, 3}));
               }),
               StatusIs(kInvalid, "logits must be floating point, got i32[2,3]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::LogSoftmax(F32(g, "x", {2, 3}), 2);
               }),
               StatusIs(kInvalid, "axis 2 is out of range for rank 2"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::SparseSoftmaxCrossEntropy(F32(g, "x", {4, 5}), F32(g, "l", {4}));
               }),
               StatusIs(kInvalid, "labels must be an integer type, got f32[4]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::SparseSoftmaxCrossEntropy(F32(g, "x", {4, 5}),
                                                ops::Placeholder(g, "l", DType::kI32, {3}));
               }),
               StatusIs(kInvalid, "labels i32[3] must have one entry per row of logits f32[4,5]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::SparseSoftmaxCrossEntropy(F32(g, "x", {4, 5, 1}),
                                                ops::Placeholder(g, "l", DType::kI32, {4}));
               }),
               StatusIs(kInvalid, "logits must have rank 2 [n,c], got f32[4,5,1]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::SoftmaxCrossEntropy(F32(g, "x", {4, 5}), F32(g, "l", {4, 4}));
               }),
               StatusIs(kInvalid, "labels f32[4,4] must have the shape of logits f32[4,5]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::SoftmaxCrossEntropy(F32(g, "x", {4, 5}),
                                          ops::Placeholder(g, "l", DType::kF64, {4, 5}));
               }),
               StatusIs(kInvalid, "dtypes differ: f32[4,5] vs f64[4,5]"));
}

TEST_CASE("SparseSoftmaxCrossEntropy rejects out-of-range labels at run time") {
  for (const auto& [labels, message] : std::vector<std::pair<std::vector<double>, std::string>>{
           {{0, 5, 1}, "label 5 at index 1 is out of range [0, 3)"},
           {{-1, 0, 1}, "label -1 at index 0 is out of range [0, 3)"},
           {{0, 1, 3}, "label 3 at index 2 is out of range [0, 3)"}}) {
    Graph g;
    Tensor logits = ops::Placeholder(g, "logits", DType::kF32, {3, 3});
    Tensor tl = ops::Placeholder(g, "labels", DType::kI64, {3});
    Tensor loss = ops::SparseSoftmaxCrossEntropy(logits, tl);
    REQUIRE_THAT(g.status(), IsOk());
    auto interpreter = Interpreter::Create(g);
    REQUIRE_THAT(interpreter.status(), IsOk());
    auto out = interpreter->Run(
        {{"logits", Literal(DType::kF32, {3, 3})}, {"labels", Literal(DType::kI64, {3}, labels)}},
        {loss});
    REQUIRE_THAT(out.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "SparseSoftmaxCrossEntropy 'SparseSoftmaxCrossEntropy'"));
    REQUIRE_THAT(out.status(), StatusIs(absl::StatusCode::kInvalidArgument, message));
  }
}

}  // namespace
}  // namespace kiln
