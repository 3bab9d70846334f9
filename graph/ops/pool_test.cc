// Tests for graph/ops/pool.cc: kernel values against a naive implementation, every gradient rule
// against central differences (and its own gradients), and the user-facing error messages.
#include <algorithm>
#include <numeric>
#include <random>
#include <string>
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

// ---- Independent reference implementations ----

// Distinct values 0.05 apart in random order: no pooling window has a tie or near-tie that a
// finite-difference step could flip, so max pooling is differentiable at every sample.
Literal DistinctF64(const Shape& shape, std::mt19937_64& rng) {
  Literal l(DType::kF64, shape);
  std::vector<int64_t> order(l.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  for (int64_t i = 0; i < l.size(); ++i) l.values[i] = (order[i] - l.size() / 2.0) * 0.05;
  return l;
}

struct PoolCase {
  Shape x;
  ops::Pool2DOptions o;
  std::string ToString() const {
    return "x " + x.ToString() + " ksize " + IntsToString(o.ksize) + " strides " +
           IntsToString(o.strides) + " " + o.padding;
  }
};

PoolCase RandomPoolCase(std::mt19937_64& rng) {
  while (true) {
    PoolCase p;
    const int64_t h = UniformInt(rng, 1, 5), w = UniformInt(rng, 1, 5);
    p.x = Shape({UniformInt(rng, 1, 2), h, w, UniformInt(rng, 1, 3)});
    p.o.ksize = {UniformInt(rng, 1, 3), UniformInt(rng, 1, 3)};
    p.o.strides = {UniformInt(rng, 1, 3), UniformInt(rng, 1, 3)};
    p.o.padding = UniformInt(rng, 0, 1) ? "SAME" : "VALID";
    if (p.o.padding == "VALID" && (h < p.o.ksize[0] || w < p.o.ksize[1])) continue;
    return p;
  }
}

// Max or mean over the in-bounds elements of each window (padding never counts).
Literal NaivePool(const Literal& x, const ops::Pool2DOptions& o, bool max) {
  const int64_t n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3];
  const auto ph = NaivePads(h, o.ksize[0], o.strides[0], 1, o.padding, 0, 0);
  const auto pw = NaivePads(w, o.ksize[1], o.strides[1], 1, o.padding, 0, 0);
  const int64_t oh = NaiveOut(h, o.ksize[0], o.strides[0], 1, ph);
  const int64_t ow = NaiveOut(w, o.ksize[1], o.strides[1], 1, pw);
  Literal y(DType::kF64, Shape({n, oh, ow, c}));
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t i = 0; i < oh; ++i) {
      for (int64_t j = 0; j < ow; ++j) {
        for (int64_t ch = 0; ch < c; ++ch) {
          std::vector<double> window;
          for (int64_t di = 0; di < o.ksize[0]; ++di) {
            for (int64_t dj = 0; dj < o.ksize[1]; ++dj) {
              const int64_t r = i * o.strides[0] - ph.first + di;
              const int64_t s = j * o.strides[1] - pw.first + dj;
              if (r >= 0 && r < h && s >= 0 && s < w) {
                window.push_back(x.values[((b * h + r) * w + s) * c + ch]);
              }
            }
          }
          y.values[((b * oh + i) * ow + j) * c + ch] =
              max ? *std::max_element(window.begin(), window.end())
                  : std::accumulate(window.begin(), window.end(), 0.0) / window.size();
        }
      }
    }
  }
  return y;
}

TEST_CASE("Pool ops are registered with docs and the intended differentiability") {
  const std::vector<std::pair<std::string, bool>> expected = {
      {"MaxPool2D", true},
      {"AvgPool2D", true},
      {"MaxPool2DGrad", false},
      {"AvgPool2DGrad", true},
  };
  RequireRegistered(expected);
}

// ---- Kernel values ----

TEST_CASE("Pools match hand-computed values") {
  Graph g;
  Tensor x4 = ops::Const(g, Iota({1, 4, 4, 1}));  // 1..16
  Tensor x3 = ops::Const(g, Iota({1, 3, 3, 1}));  // 1..9
  ops::Pool2DOptions same;
  same.padding = "SAME";  // 3 -> 2 outputs, one padding row/column after
  std::vector<Literal> out = Run(
      g, {},
      {ops::MaxPool2D(x4), ops::AvgPool2D(x4), ops::MaxPool2D(x3, same), ops::AvgPool2D(x3, same)});
  REQUIRE(out[0].values == std::vector<double>{6, 8, 14, 16});
  REQUIRE(out[1].values == std::vector<double>{3.5, 5.5, 11.5, 13.5});
  REQUIRE(out[2].values == std::vector<double>{5, 6, 8, 9});
  // SAME averages only real elements: {1,2,4,5}, {3,6}, {7,8}, {9}.
  REQUIRE(out[3].values == std::vector<double>{3, 4.5, 7.5, 9});
}

TEST_CASE("Pool gradients route to the first maximum and spread averages over real elements") {
  Graph g;
  ops::Pool2DOptions same;
  same.padding = "SAME";
  // Window {1,5,5,0} ties 5 with 5 at flat positions 1 and 3: the first (row-major) wins. Window
  // {7,7} at positions 2 and 5 ties too.
  Tensor x = ops::Const(g, Literal(DType::kF64, {1, 3, 3, 1}, {1, 5, 7, 5, 0, 7, 2, 2, 2}));
  Tensor dy = ops::Const(g, Literal(DType::kF64, {1, 2, 2, 1}, {10, 20, 30, 40}));
  std::vector<Literal> out = Run(
      g, {}, {ops::MaxPool2DGrad(x, dy, same), ops::AvgPool2DGrad(dy, Shape({1, 3, 3, 1}), same)});
  REQUIRE(out[0].values == std::vector<double>{0, 10, 20, 0, 0, 0, 30, 0, 40});
  REQUIRE(out[1].values == std::vector<double>{2.5, 2.5, 10, 2.5, 2.5, 10, 15, 15, 40});
}

TEST_CASE("MaxPool2DGrad sums where overlapping windows share a maximum") {
  Graph g;
  ops::Pool2DOptions o;
  o.ksize = {2, 2};
  o.strides = {1, 1};
  Tensor x = ops::Const(g, Literal(DType::kF64, {1, 3, 3, 1}, {0, 0, 0, 0, 9, 0, 0, 0, 0}));
  Tensor dy = ops::Const(g, Literal(DType::kF64, {1, 2, 2, 1}, {1, 2, 3, 4}));
  REQUIRE(Run(g, {}, {ops::MaxPool2DGrad(x, dy, o)})[0].values ==
          std::vector<double>{0, 0, 0, 0, 10, 0, 0, 0, 0});
}

TEST_CASE("Pools match a naive implementation on random configurations") {
  std::mt19937_64 rng(23);
  for (int trial = 0; trial < kTrials; ++trial) {
    PoolCase p = RandomPoolCase(rng);
    INFO(p.ToString());
    Graph g;
    Literal x = RandomF64(p.x, rng);
    Tensor tx = ops::Const(g, x);
    std::vector<Literal> out = Run(g, {}, {ops::MaxPool2D(tx, p.o), ops::AvgPool2D(tx, p.o)});
    RequireNear(out[0], NaivePool(x, p.o, true));
    RequireNear(out[1], NaivePool(x, p.o, false));
  }
}

// ---- Gradients (float64, central differences) ----

TEST_CASE("MaxPool2D gradients (inputs without ties)") {
  std::mt19937_64 rng(36);
  for (int trial = 0; trial < kTrials; ++trial) {
    PoolCase p = RandomPoolCase(rng);
    INFO("trial " << trial << " " << p.ToString());
    Graph g;
    Tensor x = ops::Placeholder(g, "x", DType::kF64, p.x);
    RequireGradientsMatch(ops::MaxPool2D(x, p.o), {x}, {{"x", DistinctF64(p.x, rng)}}, trial);
  }
}

TEST_CASE("AvgPool2D gradients") {
  std::mt19937_64 rng(37);
  for (int trial = 0; trial < kTrials; ++trial) {
    PoolCase p = RandomPoolCase(rng);
    INFO("trial " << trial << " " << p.ToString());
    Graph g;
    Tensor x = ops::Placeholder(g, "x", DType::kF64, p.x);
    RequireGradientsMatch(ops::AvgPool2D(x, p.o), {x}, {{"x", RandomF64(p.x, rng)}}, trial);
  }
}

TEST_CASE("AvgPool2DGrad gradients") {
  std::mt19937_64 rng(38);
  for (int trial = 0; trial < kTrials; ++trial) {
    PoolCase p = RandomPoolCase(rng);
    INFO("trial " << trial << " " << p.ToString());
    const Shape gy_shape = NaivePool(Literal(DType::kF64, p.x), p.o, false).shape;
    Graph g;
    Tensor gy = ops::Placeholder(g, "gy", DType::kF64, gy_shape);
    RequireGradientsMatch(ops::AvgPool2DGrad(gy, p.x, p.o), {gy},
                          {{"gy", RandomF64(gy_shape, rng)}}, trial);
  }
}

TEST_CASE("AvgPool2D gradient rules are differentiable (second order)") {
  std::mt19937_64 rng(44);
  for (int trial = 0; trial < kSecondOrderTrials; ++trial) {
    INFO("trial " << trial);
    {
      PoolCase p = RandomPoolCase(rng);
      INFO(p.ToString());
      Graph g;
      Tensor x = ops::Placeholder(g, "x", DType::kF64, p.x);
      Tensor y = ops::Tanh(ops::AvgPool2D(x, p.o));
      RequireSecondOrderMatches(y, {x}, {{"x", RandomF64(p.x, rng)}}, trial);
    }
  }
}

TEST_CASE("Second-order gradients through MaxPool2D report MaxPool2DGrad as not differentiable") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF64, {1, 4, 4, 1});
  auto first = AddGradients(ops::ReduceSum(ops::Square(ops::MaxPool2D(x))), {x});
  REQUIRE_THAT(first.status(), IsOk());
  auto second = AddGradients(ops::ReduceSum((*first)[0]), {x});
  REQUIRE_THAT(second.status(),
               StatusIs(absl::StatusCode::kInvalidArgument,
                        "is not differentiable (second-order max pooling is not supported"));
}

// ---- Errors ----

TEST_CASE("Pool errors") {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  auto pool = [](Shape x, ops::Pool2DOptions o) {
    return BuildStatus([&](Graph& g) { ops::MaxPool2D(F32(g, "x", x), o); });
  };
  ops::Pool2DOptions o;
  o.padding = "EXPLICIT";
  REQUIRE_THAT(pool({1, 4, 4, 1}, o),
               StatusIs(kInvalid, "padding must be VALID or SAME, got 'EXPLICIT'"));
  o = {};
  o.ksize = {2};
  REQUIRE_THAT(pool({1, 4, 4, 1}, o),
               StatusIs(kInvalid, "ksize must have 2 elements {h, w}, got 1"));
  o = {};
  o.strides = {0, 2};
  REQUIRE_THAT(pool({1, 4, 4, 1}, o), StatusIs(kInvalid, "strides must be positive, got [0,2]"));
  o = {};
  REQUIRE_THAT(pool({1, 1, 4, 1}, o), StatusIs(kInvalid, "output height would be 0"));
  REQUIRE_THAT(pool({4, 4, 1}, o), StatusIs(kInvalid, "expects a rank-4 NHWC input"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::AvgPool2DGrad(F32(g, "gy", {1, 3, 3, 1}), Shape({1, 4, 4, 1}), {});
               }),
               StatusIs(kInvalid,
                        "grad f32[1,3,3,1] does not match the pool output [1,2,2,1] of "
                        "input [1,4,4,1]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::MaxPool2DGrad(F32(g, "x", {1, 4, 4, 1}), F32(g, "gy", {1, 2, 2, 2}), {});
               }),
               StatusIs(kInvalid, "does not match the pool output [1,2,2,1]"));
}

}  // namespace
}  // namespace kiln
