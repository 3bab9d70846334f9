// Tests for graph/ops/matmul.cc: kernel values against independent computations, every gradient
// rule against central differences (and its own gradients), and the user-facing error messages.
#include <algorithm>
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

// ---- Independent reference implementations ----

// Row-major [rows, cols] literal transposed.
Literal Transposed(const Literal& x) {
  const int64_t rows = x.shape[0], cols = x.shape[1];
  Literal t(x.dtype, Shape({cols, rows}));
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) t.values[j * rows + i] = x.values[i * cols + j];
  }
  return t;
}

// [m,k] x [k,n], no transposes.
Literal NaiveMatMul(const Literal& a, const Literal& b) {
  const int64_t m = a.shape[0], k = a.shape[1], n = b.shape[1];
  Literal y(DType::kF64, Shape({m, n}));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t l = 0; l < k; ++l) {
        y.values[i * n + j] += a.values[i * k + l] * b.values[l * n + j];
      }
    }
  }
  return y;
}

// Matrix `index` of a stack of [rows, cols] matrices.
Literal MatrixAt(const Literal& x, int64_t index) {
  const int rank = x.shape.rank();
  const int64_t rows = x.shape[rank - 2], cols = x.shape[rank - 1];
  Literal m(x.dtype, Shape({rows, cols}));
  std::copy_n(x.values.begin() + index * rows * cols, rows * cols, m.values.begin());
  return m;
}

TEST_CASE("Matrix product ops are registered with docs and the intended differentiability") {
  const std::vector<std::pair<std::string, bool>> expected = {
      {"MatMul", true},
      {"BatchMatMul", true},
  };
  RequireRegistered(expected);
}

// ---- Kernel values ----

TEST_CASE("MatMul computes known products, with every transpose combination") {
  const Literal a(DType::kF64, {2, 3}, {1, 2, 3, 4, 5, 6});
  const Literal b(DType::kF64, {3, 2}, {7, 8, 9, 10, 11, 12});
  const Literal expected(DType::kF64, {2, 2}, {58, 64, 139, 154});
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      INFO("transpose_a " << ta << " transpose_b " << tb);
      Graph g;
      Literal fa = ta ? Transposed(a) : a;
      Literal fb = tb ? Transposed(b) : b;
      Tensor pa = ops::Placeholder(g, "a", DType::kF64, fa.shape);
      Tensor pb = ops::Placeholder(g, "b", DType::kF64, fb.shape);
      Tensor y = ops::MatMul(pa, pb, ta, tb);
      REQUIRE(y.type() == TensorType{DType::kF64, {2, 2}});
      RequireNear(Run(g, {{"a", fa}, {"b", fb}}, {y})[0], expected, 0);
    }
  }
}

TEST_CASE("MatMul works on integers and rounds f32 results") {
  Graph g;
  Tensor a = ops::Const(g, Literal(DType::kI32, {1, 2}, {3, -4}));
  Tensor b = ops::Const(g, Literal(DType::kI32, {2, 1}, {5, 6}));
  Tensor y = ops::MatMul(a, b);
  REQUIRE(y.dtype() == DType::kI32);
  REQUIRE(Run(g, {}, {y})[0].values == std::vector<double>{-9});
}

TEST_CASE("BatchMatMul broadcasts batch dims and matches per-matrix products") {
  std::mt19937_64 rng(11);
  // a [2,1,m,k] x b [3,k,n] -> [2,3,m,n]: a broadcasts over b's batch and vice versa.
  const int64_t m = 2, k = 3, n = 4;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      INFO("transpose_a " << ta << " transpose_b " << tb);
      Literal a = RandomF64({2, 1, m, k}, rng);
      Literal b = RandomF64({3, k, n}, rng);
      Literal fa = a, fb = b;
      if (ta) {
        fa.shape = Shape({2, 1, k, m});
        for (int i = 0; i < 2; ++i) {
          Literal t = Transposed(MatrixAt(a, i));
          std::copy(t.values.begin(), t.values.end(), fa.values.begin() + i * m * k);
        }
      }
      if (tb) {
        fb.shape = Shape({3, n, k});
        for (int i = 0; i < 3; ++i) {
          Literal t = Transposed(MatrixAt(b, i));
          std::copy(t.values.begin(), t.values.end(), fb.values.begin() + i * k * n);
        }
      }
      Graph g;
      Tensor pa = ops::Placeholder(g, "a", DType::kF64, fa.shape);
      Tensor pb = ops::Placeholder(g, "b", DType::kF64, fb.shape);
      Tensor y = ops::BatchMatMul(pa, pb, ta, tb);
      REQUIRE(y.shape() == Shape({2, 3, m, n}));
      Literal out = Run(g, {{"a", fa}, {"b", fb}}, {y})[0];
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) {
          CAPTURE(i, j);
          RequireNear(MatrixAt(out, i * 3 + j), NaiveMatMul(MatrixAt(a, i), MatrixAt(b, j)));
        }
      }
    }
  }
  SECTION("rank-2 operands broadcast against batches") {
    Graph g;
    Literal a = RandomF64({m, k}, rng);
    Literal b = RandomF64({2, k, n}, rng);
    Tensor y = ops::BatchMatMul(ops::Const(g, a), ops::Const(g, b));
    REQUIRE(y.shape() == Shape({2, m, n}));
    Literal out = Run(g, {}, {y})[0];
    for (int j = 0; j < 2; ++j) RequireNear(MatrixAt(out, j), NaiveMatMul(a, MatrixAt(b, j)));
  }
}

// ---- Gradients (float64, central differences) ----

TEST_CASE("MatMul gradients, all transpose flags") {
  std::mt19937_64 rng(31);
  for (int trial = 0; trial < kTrials; ++trial) {
    const bool ta = trial % 2, tb = (trial / 2) % 2;
    const int64_t m = UniformInt(rng, 1, 4), k = UniformInt(rng, 1, 4), n = UniformInt(rng, 1, 4);
    const Shape sa = ta ? Shape({k, m}) : Shape({m, k});
    const Shape sb = tb ? Shape({n, k}) : Shape({k, n});
    INFO("trial " << trial << " a " << sa.ToString() << " b " << sb.ToString() << " ta " << ta
                  << " tb " << tb);
    Graph g;
    Tensor a = ops::Placeholder(g, "a", DType::kF64, sa);
    Tensor b = ops::Placeholder(g, "b", DType::kF64, sb);
    RequireGradientsMatch(ops::MatMul(a, b, ta, tb), {a, b},
                          {{"a", RandomF64(sa, rng)}, {"b", RandomF64(sb, rng)}}, trial);
  }
}

TEST_CASE("BatchMatMul gradients with broadcasting batch dims") {
  std::mt19937_64 rng(32);
  for (int trial = 0; trial < kTrials; ++trial) {
    const bool ta = trial % 2, tb = (trial / 2) % 2;
    const int64_t m = UniformInt(rng, 1, 3), k = UniformInt(rng, 1, 3), n = UniformInt(rng, 1, 3);
    const Shape batch = RandomShape(rng, 0, 2, 2);
    auto with_matrix = [](Shape s, int64_t r, int64_t c) {
      Ints dims = s.dims();
      dims.push_back(r);
      dims.push_back(c);
      return Shape(dims);
    };
    const Shape sa = with_matrix(RandomBroadcastableShape(batch, rng), ta ? k : m, ta ? m : k);
    const Shape sb = with_matrix(RandomBroadcastableShape(batch, rng), tb ? n : k, tb ? k : n);
    INFO("trial " << trial << " a " << sa.ToString() << " b " << sb.ToString() << " ta " << ta
                  << " tb " << tb);
    Graph g;
    Tensor a = ops::Placeholder(g, "a", DType::kF64, sa);
    Tensor b = ops::Placeholder(g, "b", DType::kF64, sb);
    RequireGradientsMatch(ops::BatchMatMul(a, b, ta, tb), {a, b},
                          {{"a", RandomF64(sa, rng)}, {"b", RandomF64(sb, rng)}}, trial);
  }
}

TEST_CASE("MatMul and BatchMatMul gradient rules are differentiable (second order)") {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < kSecondOrderTrials; ++trial) {
    INFO("trial " << trial);
    {
      const bool ta = trial % 2, tb = (trial / 2) % 2;
      Graph g;
      Tensor a = ops::Placeholder(g, "a", DType::kF64, ta ? Shape({3, 2}) : Shape({2, 3}));
      Tensor b = ops::Placeholder(g, "b", DType::kF64, tb ? Shape({4, 3}) : Shape({3, 4}));
      Tensor y = ops::Tanh(ops::MatMul(a, b, ta, tb));  // tanh: a nonzero second derivative
      RequireSecondOrderMatches(
          y, {a, b}, {{"a", RandomF64(a.shape(), rng)}, {"b", RandomF64(b.shape(), rng)}}, trial);
    }
    {
      Graph g;
      Tensor a = ops::Placeholder(g, "a", DType::kF64, {2, 1, 2, 3});
      Tensor b = ops::Placeholder(g, "b", DType::kF64, {3, 3, 2});
      Tensor y = ops::Tanh(ops::BatchMatMul(a, b, false, false));
      RequireSecondOrderMatches(
          y, {a, b}, {{"a", RandomF64(a.shape(), rng)}, {"b", RandomF64(b.shape(), rng)}}, trial);
    }
  }
}

// ---- Errors ----

TEST_CASE("MatMul errors name both shapes, the op and the user's line") {
  Graph g;
  Tensor a = F32(g, "a", {128, 784});
  Tensor b = F32(g, "b", {512, 10});
  const int line = __LINE__ + 1;
  Tensor y = ops::MatMul(a, b);
  REQUIRE_FALSE(y.valid());
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "MatMul 'MatMul' (matmul_test.cc:" + std::to_string(line) +
                                        "): inner dimensions differ: [128,784] x [512,10]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::MatMul(F32(g, "a", {3, 4}), F32(g, "b", {4, 5}), true);
               }),
               StatusIs(absl::StatusCode::kInvalidArgument,
                        "inner dimensions differ: [3,4]^T x [4,5] (3 vs 4)"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::MatMul(F32(g, "a", {2, 3}), ops::Placeholder(g, "b", DType::kF64, {3, 4}));
               }),
               StatusIs(absl::StatusCode::kInvalidArgument, "dtypes differ: f32[2,3] vs f64[3,4]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::MatMul(F32(g, "a", {2, 2, 3}), F32(g, "b", {3, 4}));
               }),
               StatusIs(absl::StatusCode::kInvalidArgument,
                        "expects rank-2 inputs, got f32[2,2,3] and f32[3,4]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::MatMul(ops::Placeholder(g, "a", DType::kBool, {2, 2}),
                             ops::Placeholder(g, "b", DType::kBool, {2, 2}));
               }),
               StatusIs(absl::StatusCode::kInvalidArgument, "expects numeric inputs"));
}

TEST_CASE("BatchMatMul errors") {
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::BatchMatMul(F32(g, "a", {2, 3, 4}), F32(g, "b", {3, 4, 5}));
               }),
               StatusIs(absl::StatusCode::kInvalidArgument,
                        "batch dimensions do not broadcast: f32[2,3,4] x f32[3,4,5]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::BatchMatMul(F32(g, "a", {2, 3, 4}), F32(g, "b", {2, 5, 4}));
               }),
               StatusIs(absl::StatusCode::kInvalidArgument,
                        "inner dimensions differ: [2,3,4] x [2,5,4] (4 vs 5)"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::BatchMatMul(F32(g, "a", {4}), F32(g, "b", {4, 5}));
               }),
               StatusIs(absl::StatusCode::kInvalidArgument, "expects inputs of rank >= 2"));
}

}  // namespace
}  // namespace kiln
