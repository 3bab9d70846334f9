// Test support shared by the tests of the matmul, convolution, pool and softmax ops
// (graph/ops/{matmul,conv,pool,softmax}_test.cc): running graphs on the interpreter, comparing
// values, float64 gradient checks of first and second order, and TensorFlow's window padding
// derived without the ops.
#ifndef KILN_GRAPH_OPS_OP_TESTING_H_
#define KILN_GRAPH_OPS_OP_TESTING_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "catch2/catch.hpp"
#include "graph/autodiff.h"
#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace op_testing {

using Ints = std::vector<int64_t>;

constexpr int kTrials = 20;
constexpr double kTolerance = 1e-6;

inline int64_t UniformInt(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

inline Literal RandomF64(const Shape& shape, std::mt19937_64& rng, double lo = -1, double hi = 1) {
  return RandomLiteral(DType::kF64, shape, rng, lo, hi);
}

// Values start, start + 1, ... of `shape`: easy to follow by hand.
inline Literal Iota(const Shape& shape, double start = 1) {
  Literal l(DType::kF64, shape);
  std::iota(l.values.begin(), l.values.end(), start);
  return l;
}

inline std::string IntsToString(const Ints& v) { return "[" + absl::StrJoin(v, ",") + "]"; }

inline std::vector<Literal> Run(const Graph& g, const Feeds& feeds,
                                const std::vector<Tensor>& fetches) {
  REQUIRE_THAT(g.status(), IsOk());
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  auto out = interpreter->Run(feeds, fetches);
  REQUIRE_THAT(out.status(), IsOk());
  return *out;
}

inline void RequireNear(const Literal& actual, const Literal& expected, double tolerance = 1e-9) {
  REQUIRE(actual.shape == expected.shape);
  for (int64_t i = 0; i < actual.size(); ++i) {
    CAPTURE(i, actual.values[i], expected.values[i]);
    REQUIRE(std::fabs(actual.values[i] - expected.values[i]) <= tolerance);
  }
}

// Checks the gradients of y with respect to `inputs` (float64 Placeholders) by central differences.
inline void RequireGradientsMatch(Tensor y, const std::vector<Tensor>& inputs, const Feeds& feeds,
                                  uint64_t seed) {
  REQUIRE_THAT(y.graph()->status(), IsOk());
  auto check = CheckGradients(y, inputs, feeds, seed);
  REQUIRE_THAT(check.status(), IsOk());
  CAPTURE(check->worst, check->max_error);
  REQUIRE(check->max_error <= kTolerance);
}

// Checks the gradient rule's own gradients: differentiates sum(y * r) with respect to inputs[0]
// symbolically, then checks that result's gradients with respect to every input.
inline void RequireSecondOrderMatches(Tensor y, const std::vector<Tensor>& inputs,
                                      const Feeds& feeds, uint64_t seed) {
  REQUIRE_THAT(y.graph()->status(), IsOk());
  std::mt19937_64 rng(seed + 1000);
  Tensor r = ops::Const(*y.graph(), RandomF64(y.shape(), rng));
  auto first = AddGradients(ops::ReduceSum(y * r), {inputs[0]});
  REQUIRE_THAT(first.status(), IsOk());
  RequireGradientsMatch((*first)[0], inputs, feeds, seed);
}

// The status of the graph that `build` builds.
// Each named op is registered, with a doc, a kernel, and differentiable or not as `expected` says
// (with the reason when not).
inline void RequireRegistered(const std::vector<std::pair<std::string, bool>>& expected) {
  for (const auto& [name, differentiable] : expected) {
    INFO(name);
    const OpDef* def = OpRegistry::Find(name);
    REQUIRE(def != nullptr);
    REQUIRE_FALSE(def->doc.empty());
    REQUIRE(static_cast<bool>(def->kernel));
    REQUIRE(def->differentiable() == differentiable);
    REQUIRE(def->not_differentiable.empty() == differentiable);
  }
}

inline absl::Status BuildStatus(const std::function<void(Graph&)>& build) {
  Graph g;
  build(g);
  return g.status();
}

inline Tensor F32(Graph& g, const std::string& name, Shape shape) {
  return ops::Placeholder(g, name, DType::kF32, std::move(shape));
}

// {before, after} padding of one spatial dimension by TensorFlow's rules, derived without the op.
inline std::pair<int64_t, int64_t> NaivePads(int64_t in, int64_t k, int64_t stride,
                                             int64_t dilation, const std::string& padding,
                                             int64_t lo, int64_t hi) {
  if (padding == "VALID") return {0, 0};
  if (padding == "EXPLICIT") return {lo, hi};
  const int64_t k_eff = (k - 1) * dilation + 1;
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>(0, (out - 1) * stride + k_eff - in);
  return {total / 2, total - total / 2};
}

inline int64_t NaiveOut(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                        std::pair<int64_t, int64_t> pads) {
  return (in + pads.first + pads.second - ((k - 1) * dilation + 1)) / stride + 1;
}

}  // namespace op_testing
}  // namespace kiln

#endif  // KILN_GRAPH_OPS_OP_TESTING_H_
