// Tests of the data-movement ops (graph/ops/array.cc): reference kernel values, gradients against
// finite differences (first order, and the gradient rules' own gradients), and error messages.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "catch2/catch.hpp"
#include "graph/autodiff.h"
#include "graph/gradient_check.h"
#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/status_macros.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

using Ints = std::vector<int64_t>;
using absl::StatusCode;

constexpr int kTrials = 25;
constexpr double kTolerance = 1e-6;

std::string Str(const Ints& v) { return "[" + absl::StrJoin(v, ",") + "]"; }

int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {  // inclusive
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

// Values 0, 1, 2, ... of `shape`: easy to follow through data movement by hand.
Literal Iota(DType dtype, const Shape& shape) {
  std::vector<double> values(shape.NumElements());
  std::iota(values.begin(), values.end(), 0.0);
  return Literal(dtype, shape, values);
}

absl::StatusOr<std::vector<Literal>> Run(const std::vector<Tensor>& fetches,
                                         const Feeds& feeds = {}) {
  KILN_ASSIGN_OR_RETURN(Interpreter interpreter, Interpreter::Create(*fetches[0].graph()));
  return interpreter.Run(feeds, fetches);
}

Literal Eval(Tensor t, const Feeds& feeds = {}) {
  REQUIRE(t.graph() != nullptr);
  REQUIRE_THAT(t.graph()->status(), IsOk());
  absl::StatusOr<std::vector<Literal>> out = Run({t}, feeds);
  REQUIRE_THAT(out.status(), IsOk());
  return (*out)[0];
}

void RequireLiteral(const Literal& got, DType dtype, const Shape& shape,
                    const std::vector<double>& values) {
  CAPTURE(got.ToString());
  REQUIRE(DTypeName(got.dtype) == std::string(DTypeName(dtype)));
  REQUIRE(got.shape.ToString() == shape.ToString());
  REQUIRE(got.values == values);
}

// -------------------------------------------------------------------------------------------------
// Kernel values

TEST_CASE("Transpose permutes dimensions") {
  Graph g;
  Tensor x2 = ops::Const(g, Iota(DType::kF32, {2, 3}));
  RequireLiteral(Eval(ops::Transpose(x2, {1, 0})), DType::kF32, {3, 2}, {0, 3, 1, 4, 2, 5});
  // y[a,b,c] = x[b,c,a] = 4b + 2c + a.
  Tensor x3 = ops::Const(g, Iota(DType::kI32, {2, 2, 2}));
  RequireLiteral(Eval(ops::Transpose(x3, {2, 0, 1})), DType::kI32, {2, 2, 2},
                 {0, 2, 4, 6, 1, 3, 5, 7});
  Tensor s = ops::Scalar(g, 7.0);
  RequireLiteral(Eval(ops::Transpose(s, {})), DType::kF32, {}, {7});
}

TEST_CASE("Concat joins three inputs along a negative axis, and along axis 0") {
  Graph g;
  Tensor a = ops::Const(g, Literal(DType::kF32, {2, 1}, {1, 2}));
  Tensor b = ops::Const(g, Literal(DType::kF32, {2, 2}, {3, 4, 5, 6}));
  Tensor c = ops::Const(g, Literal(DType::kF32, {2, 3}, {7, 8, 9, 10, 11, 12}));
  RequireLiteral(Eval(ops::Concat({a, b, c}, -1)), DType::kF32, {2, 6},
                 {1, 3, 4, 7, 8, 9, 2, 5, 6, 10, 11, 12});
  Tensor d = ops::Const(g, Literal(DType::kF32, {1, 2}, {1, 2}));
  RequireLiteral(Eval(ops::Concat({d, b}, 0)), DType::kF32, {3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor empty = ops::Const(g, Literal(DType::kF32, {2, 0}));
  RequireLiteral(Eval(ops::Concat({a, empty, a}, 1)), DType::kF32, {2, 2}, {1, 1, 2, 2});
}

TEST_CASE("Slice takes a box, with -1 meaning to the end") {
  Graph g;
  Tensor x = ops::Const(g, Iota(DType::kF32, {3, 4}));
  RequireLiteral(Eval(ops::Slice(x, {1, 1}, {2, -1})), DType::kF32, {2, 3}, {5, 6, 7, 9, 10, 11});
  RequireLiteral(Eval(ops::Slice(x, {0, 2}, {-1, 1})), DType::kF32, {3, 1}, {2, 6, 10});
  RequireLiteral(Eval(ops::Slice(x, {3, 0}, {0, -1})), DType::kF32, {0, 4}, {});
}

TEST_CASE("Split cuts along an axis and infers one -1 size") {
  Graph g;
  Tensor x = ops::Const(g, Iota(DType::kF32, {2, 5}));
  std::vector<Tensor> pieces = ops::Split(x, {1, -1, 2}, -1);
  REQUIRE(pieces.size() == 3);
  REQUIRE(pieces[1].name() == "Split:1");
  absl::StatusOr<std::vector<Literal>> out = Run(pieces);
  REQUIRE_THAT(out.status(), IsOk());
  RequireLiteral((*out)[0], DType::kF32, {2, 1}, {0, 5});
  RequireLiteral((*out)[1], DType::kF32, {2, 2}, {1, 2, 6, 7});
  RequireLiteral((*out)[2], DType::kF32, {2, 2}, {3, 4, 8, 9});

  Tensor y = ops::Const(g, Iota(DType::kI64, {3, 2}));
  std::vector<Tensor> rows = ops::Split(y, {2, 0, 1}, 0);
  out = Run(rows);
  REQUIRE_THAT(out.status(), IsOk());
  RequireLiteral((*out)[0], DType::kI64, {2, 2}, {0, 1, 2, 3});
  RequireLiteral((*out)[1], DType::kI64, {0, 2}, {});
  RequireLiteral((*out)[2], DType::kI64, {1, 2}, {4, 5});
}

TEST_CASE("Pad surrounds x with a value") {
  Graph g;
  Tensor x = ops::Const(g, Literal(DType::kF32, {2, 2}, {1, 2, 3, 4}));
  RequireLiteral(Eval(ops::Pad(x, {1, 0, 0, 2}, 9.0)), DType::kF32, {3, 4},
                 {9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9});
  Tensor v = ops::Const(g, Literal(DType::kI32, {2}, {1, 2}));
  RequireLiteral(Eval(ops::Pad(v, {2, 1})), DType::kI32, {5}, {0, 0, 1, 2, 0});
}

TEST_CASE("Gather picks rows by integer indices of any rank") {
  Graph g;
  Tensor params = ops::Const(g, Literal(DType::kF32, {3, 2}, {10, 11, 20, 21, 30, 31}));
  Tensor indices = ops::Const(g, Literal(DType::kI32, {2, 2}, {2, 0, 1, 2}));
  RequireLiteral(Eval(ops::Gather(params, indices)), DType::kF32, {2, 2, 2},
                 {30, 31, 10, 11, 20, 21, 30, 31});
  Tensor scalar = ops::Const(g, Literal::Scalar(DType::kI64, 1));
  RequireLiteral(Eval(ops::Gather(params, scalar)), DType::kF32, {2}, {20, 21});
  Tensor vec = ops::Const(g, Literal(DType::kF64, {4}, {5, 6, 7, 8}));
  Tensor repeated = ops::Const(g, Literal(DType::kI64, {3}, {3, 3, 0}));
  RequireLiteral(Eval(ops::Gather(vec, repeated)), DType::kF64, {3}, {8, 8, 5});
}

TEST_CASE("ScatterAdd accumulates repeated indices") {
  Graph g;
  Tensor indices = ops::Const(g, Literal(DType::kI32, {4}, {0, 2, 0, 0}));
  Tensor updates = ops::Const(g, Literal(DType::kF32, {4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}));
  // Row 0 gets rows 0, 2 and 3 of updates; row 1 nothing.
  RequireLiteral(Eval(ops::ScatterAdd(indices, updates, {3, 2})), DType::kF32, {3, 2},
                 {13, 16, 0, 0, 3, 4});
  Tensor indices2 = ops::Const(g, Literal(DType::kI64, {2, 2}, {1, 1, 0, 1}));
  Tensor updates2 = ops::Const(g, Literal(DType::kF64, {2, 2}, {1, 2, 3, 4}));
  RequireLiteral(Eval(ops::ScatterAdd(indices2, updates2, {2})), DType::kF64, {2}, {3, 7});
}

TEST_CASE("OneHot gives an all-zero row for an out-of-range index") {
  Graph g;
  Tensor indices = ops::Const(g, Literal(DType::kI32, {5}, {0, 2, -1, 3, 1}));
  RequireLiteral(Eval(ops::OneHot(indices, 3)), DType::kF32, {5, 3},
                 {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0});
  Tensor indices2 = ops::Const(g, Literal(DType::kI64, {2, 1}, {1, 0}));
  RequireLiteral(Eval(ops::OneHot(indices2, 2, DType::kI64)), DType::kI64, {2, 1, 2}, {0, 1, 1, 0});
}

TEST_CASE("Registered ops say whether they are differentiable") {
  for (const char* op : {"Transpose", "Concat", "Slice", "Split", "Pad", "Gather", "ScatterAdd"}) {
    CAPTURE(op);
    REQUIRE(OpRegistry::Find(op) != nullptr);
    REQUIRE(OpRegistry::Find(op)->differentiable());
    REQUIRE_FALSE(OpRegistry::Find(op)->doc.empty());
  }
  REQUIRE_FALSE(OpRegistry::Find("OneHot")->differentiable());
  REQUIRE(OpRegistry::Find("OneHot")->not_differentiable == "integer input");
  REQUIRE(OpRegistry::Find("Concat")->variadic);
}

// -------------------------------------------------------------------------------------------------
// Gradients

// One random gradient-check problem: y computed from the f64 placeholders xs (fed by feeds).
struct Trial {
  Tensor y;
  std::vector<Tensor> xs;
  Feeds feeds;
  std::string description;
};

Tensor Input(Graph& g, const std::string& name, const Shape& shape, std::mt19937_64& rng,
             Feeds& feeds) {
  feeds[name] = RandomLiteral(DType::kF64, shape, rng);
  return ops::Placeholder(g, name, DType::kF64, shape);
}

// Integer indices in [0, limit) of a random integer dtype, as a Const or a fed Placeholder (neither
// is differentiated).
Tensor Indices(Graph& g, const Shape& shape, int64_t limit, std::mt19937_64& rng, Feeds& feeds,
               std::string& description) {
  const DType dtype = Uniform(rng, 0, 1) ? DType::kI32 : DType::kI64;
  Literal value(dtype, shape);
  for (double& v : value.values) v = static_cast<double>(Uniform(rng, 0, limit - 1));
  description += " indices " + value.ToString();
  if (Uniform(rng, 0, 1)) return ops::Const(g, value);
  feeds["indices"] = value;
  return ops::Placeholder(g, "indices", dtype, shape);
}

void RequireGradientsMatch(Tensor y, const std::vector<Tensor>& xs, const Feeds& feeds,
                           uint64_t seed) {
  REQUIRE(y.graph() != nullptr);
  REQUIRE_THAT(y.graph()->status(), IsOk());
  absl::StatusOr<GradientCheck> check = CheckGradients(y, xs, feeds, seed);
  REQUIRE_THAT(check.status(), IsOk());
  CAPTURE(check->max_error, check->worst);
  REQUIRE(check->max_error <= kTolerance);
}

// Runs kTrials random problems. Each checks dy/dxs, then the gradient rule's own gradient: the
// vector-Jacobian product (x's gradient for a fed upstream seed) is differentiated with respect to
// the seed, which exercises the ops the rule is built from (second-order autodiff goes there).
void RunGradientTrials(uint64_t seed, const std::function<Trial(Graph&, std::mt19937_64&)>& build) {
  for (int i = 0; i < kTrials; ++i) {
    std::mt19937_64 rng(seed * 1000 + i);
    Graph g;
    Trial t = build(g, rng);
    INFO("trial " << i << ":" << t.description);
    RequireGradientsMatch(t.y, t.xs, t.feeds, i);

    Tensor seed_grad = ops::Placeholder(g, "seed_grad", t.y.dtype(), t.y.shape());
    t.feeds["seed_grad"] = RandomLiteral(DType::kF64, t.y.shape(), rng);
    const Tensor& x = t.xs[i % t.xs.size()];
    absl::StatusOr<std::vector<Tensor>> vjp = AddGradients(t.y, {x}, seed_grad);
    REQUIRE_THAT(vjp.status(), IsOk());
    INFO("second order, with respect to the seed of " << x.name() << "'s gradient");
    RequireGradientsMatch((*vjp)[0], {seed_grad}, t.feeds, i + 1000);
  }
}

TEST_CASE("Transpose gradients match finite differences") {
  RunGradientTrials(1, [](Graph& g, std::mt19937_64& rng) {
    Trial t;
    Shape shape = RandomShape(rng, 0, 4, 4);
    Ints perm(shape.rank());
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    t.description = " x " + shape.ToString() + " perm " + Str(perm);
    t.xs = {Input(g, "x", shape, rng, t.feeds)};
    t.y = ops::Transpose(t.xs[0], perm);
    return t;
  });
}

TEST_CASE("Concat gradients match finite differences") {
  RunGradientTrials(2, [](Graph& g, std::mt19937_64& rng) {
    Trial t;
    Shape base = RandomShape(rng, 1, 3, 3);
    const int64_t axis = Uniform(rng, -base.rank(), base.rank() - 1);
    const int64_t n = Uniform(rng, 1, 3);
    t.description = " axis " + std::to_string(axis) + " inputs";
    for (int64_t k = 0; k < n; ++k) {
      Ints dims = base.dims();
      dims[axis < 0 ? axis + base.rank() : axis] = Uniform(rng, 0, 3);  // 0: an empty piece
      t.description += " " + Shape(dims).ToString();
      t.xs.push_back(Input(g, "x" + std::to_string(k), Shape(dims), rng, t.feeds));
    }
    t.y = ops::Concat(t.xs, axis);
    return t;
  });
}

TEST_CASE("Concat of one tensor used twice sums both gradients") {
  Graph g;
  std::mt19937_64 rng(7);
  Feeds feeds;
  Tensor x = Input(g, "x", {2, 3}, rng, feeds);
  Tensor y = Input(g, "y", {1, 3}, rng, feeds);
  RequireGradientsMatch(ops::Concat({x, y, x}, 0), {x, y}, feeds, 7);
}

TEST_CASE("Slice gradients match finite differences") {
  RunGradientTrials(3, [](Graph& g, std::mt19937_64& rng) {
    Trial t;
    Shape shape = RandomShape(rng, 0, 4, 4);
    Ints begin, size;
    for (int64_t d : shape.dims()) {
      begin.push_back(Uniform(rng, 0, d - 1));
      size.push_back(Uniform(rng, 0, 3) == 0 ? -1 : Uniform(rng, 1, d - begin.back()));
    }
    t.description = " x " + shape.ToString() + " begin " + Str(begin) + " size " + Str(size);
    t.xs = {Input(g, "x", shape, rng, t.feeds)};
    t.y = ops::Slice(t.xs[0], begin, size);
    return t;
  });
}

TEST_CASE("Split gradients match finite differences") {
  RunGradientTrials(4, [](Graph& g, std::mt19937_64& rng) {
    Trial t;
    Shape shape = RandomShape(rng, 1, 3, 4);
    const int64_t axis = Uniform(rng, -shape.rank(), shape.rank() - 1);
    int64_t left = shape[axis < 0 ? axis + shape.rank() : axis];
    Ints sizes;
    while (left > 0) {
      sizes.push_back(Uniform(rng, 1, left));
      left -= sizes.back();
    }
    if (Uniform(rng, 0, 1)) sizes[Uniform(rng, 0, static_cast<int64_t>(sizes.size()) - 1)] = -1;
    t.xs = {Input(g, "x", shape, rng, t.feeds)};
    std::vector<Tensor> pieces = ops::Split(t.xs[0], sizes, axis);
    // One piece alone leaves the others without a gradient (autodiff gives them zeros); all of them
    // reversed checks every piece's gradient lands in its own place.
    const bool one = Uniform(rng, 0, 1);
    const int64_t k = Uniform(rng, 0, static_cast<int64_t>(pieces.size()) - 1);
    t.description = " x " + shape.ToString() + " sizes " + Str(sizes) + " axis " +
                    std::to_string(axis) + (one ? " piece " + std::to_string(k) : " all reversed");
    if (one) {
      t.y = pieces[k];
    } else {
      std::reverse(pieces.begin(), pieces.end());
      t.y = ops::Concat(pieces, axis);
    }
    return t;
  });
}

TEST_CASE("Pad gradients match finite differences") {
  RunGradientTrials(5, [](Graph& g, std::mt19937_64& rng) {
    Trial t;
    Shape shape = RandomShape(rng, 0, 3, 3);
    Ints paddings;
    for (int i = 0; i < 2 * shape.rank(); ++i) paddings.push_back(Uniform(rng, 0, 2));
    const double value = std::uniform_real_distribution<double>(-2, 2)(rng);
    t.description =
        " x " + shape.ToString() + " paddings " + Str(paddings) + " value " + std::to_string(value);
    t.xs = {Input(g, "x", shape, rng, t.feeds)};
    t.y = ops::Pad(t.xs[0], paddings, value);
    return t;
  });
}

TEST_CASE("Gather gradients match finite differences") {
  RunGradientTrials(6, [](Graph& g, std::mt19937_64& rng) {
    Trial t;
    Shape params = RandomShape(rng, 1, 3, 4);
    Shape indices = RandomShape(rng, 0, 2, 4);
    t.description = " params " + params.ToString();
    t.xs = {Input(g, "params", params, rng, t.feeds)};
    t.y = ops::Gather(t.xs[0], Indices(g, indices, params[0], rng, t.feeds, t.description));
    return t;
  });
}

TEST_CASE("ScatterAdd gradients match finite differences") {
  RunGradientTrials(7, [](Graph& g, std::mt19937_64& rng) {
    Trial t;
    Shape shape = RandomShape(rng, 1, 3, 4);
    Shape indices = RandomShape(rng, 0, 2, 4);
    Ints updates = indices.dims();
    updates.insert(updates.end(), shape.dims().begin() + 1, shape.dims().end());
    t.description = " shape " + shape.ToString();
    Tensor index = Indices(g, indices, shape[0], rng, t.feeds, t.description);
    t.xs = {Input(g, "updates", Shape(updates), rng, t.feeds)};
    t.y = ops::ScatterAdd(index, t.xs[0], shape);
    return t;
  });
}

TEST_CASE("An integer path through OneHot carries no gradient") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF64, {3});
  Tensor y = ops::ReduceSum(ops::OneHot(ops::Cast(x, DType::kI32), 4, DType::kF64) * 2.0);
  auto grads = AddGradients(y, {x});
  REQUIRE_THAT(grads.status(), IsOk());
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  auto out = interpreter->Run({{"x", Literal(DType::kF64, {3}, {0, 1, 2})}}, *grads);
  REQUIRE_THAT(out.status(), IsOk());
  REQUIRE((*out)[0].values == std::vector<double>{0, 0, 0});
}

// -------------------------------------------------------------------------------------------------
// Errors

TEST_CASE("Transpose rejects a perm that is not a permutation") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3, 4});
  const int line = __LINE__ + 1;
  REQUIRE_FALSE(ops::Transpose(x, {0, 0, 1}).valid());
  REQUIRE_THAT(g.status(),
               StatusIs(StatusCode::kInvalidArgument,
                        "Transpose 'Transpose' (array_test.cc:" + std::to_string(line) +
                            "): perm [0,0,1] is not a permutation of [0, 3) for x f32[2,3,4]"));
  Graph g2;
  ops::Transpose(ops::Placeholder(g2, "x", DType::kF32, {2, 3}), {1, 0, 2});
  REQUIRE_THAT(g2.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "perm [1,0,2] is not a permutation of [0, 2)"));
  Graph g3;
  ops::Transpose(ops::Placeholder(g3, "x", DType::kF32, {2, 3}), {-1, 0});
  REQUIRE_THAT(g3.status(), StatusIs(StatusCode::kInvalidArgument, "perm [-1,0] is not"));
}

TEST_CASE("Concat names the mismatching input and both shapes") {
  Graph g;
  Tensor a = ops::Placeholder(g, "a", DType::kF32, {2, 3});
  Tensor b = ops::Placeholder(g, "b", DType::kF32, {2, 1});
  Tensor c = ops::Placeholder(g, "c", DType::kF32, {3, 4});
  REQUIRE_FALSE(ops::Concat({a, b, c}, 1).valid());
  REQUIRE_THAT(g.status(), StatusIs(StatusCode::kInvalidArgument,
                                    "input 2 is f32[3,4] but input 0 is f32[2,3]: dimension 0 "
                                    "differs (only axis 1 may differ)"));
  Graph g2;
  Tensor r2 = ops::Placeholder(g2, "a", DType::kF32, {2, 3});
  ops::Concat({r2, ops::Placeholder(g2, "b", DType::kF32, {2, 3, 1})}, 0);
  REQUIRE_THAT(g2.status(),
               StatusIs(StatusCode::kInvalidArgument,
                        "input 1 is f32[2,3,1] but input 0 is f32[2,3]: ranks differ"));
  Graph g3;
  Tensor f = ops::Placeholder(g3, "f", DType::kF32, {2});
  ops::Concat({f, ops::Placeholder(g3, "d", DType::kF64, {2})}, 0);
  REQUIRE_THAT(g3.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "input 1 is f64[2] but input 0 is f32[2]: dtypes differ"));
  Graph g4;
  ops::Concat({ops::Placeholder(g4, "a", DType::kF32, {2, 3})}, -3);
  REQUIRE_THAT(g4.status(),
               StatusIs(StatusCode::kInvalidArgument, "axis -3 is out of range for rank 2"));
  Graph g5;
  ops::Concat({ops::Scalar(g5, 1.0), ops::Scalar(g5, 2.0)}, 0);
  REQUIRE_THAT(g5.status(), StatusIs(StatusCode::kInvalidArgument, "cannot concatenate scalars"));
}

TEST_CASE("Slice rejects out-of-bounds boxes") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3});
  REQUIRE_FALSE(ops::Slice(x, {0, 1}, {1, 3}).valid());
  REQUIRE_THAT(g.status(), StatusIs(StatusCode::kInvalidArgument,
                                    "slice [1, 4) is out of bounds in dimension 1 of x f32[2,3] "
                                    "(extent 3)"));
  Graph g2;
  ops::Slice(ops::Placeholder(g2, "x", DType::kF32, {2, 3}), {3, 0}, {-1, -1});
  REQUIRE_THAT(g2.status(),
               StatusIs(StatusCode::kInvalidArgument,
                        "begin 3 is out of range [0, 2] in dimension 0 of x f32[2,3]"));
  Graph g3;
  ops::Slice(ops::Placeholder(g3, "x", DType::kF32, {2, 3}), {0, -1}, {1, 1});
  REQUIRE_THAT(g3.status(), StatusIs(StatusCode::kInvalidArgument, "begin -1 is out of range"));
  Graph g4;
  ops::Slice(ops::Placeholder(g4, "x", DType::kF32, {2, 3}), {0}, {1});
  REQUIRE_THAT(g4.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "begin [0] and size [1] must each have one entry per "
                                     "dimension of x f32[2,3]"));
  Graph g5;
  ops::Slice(ops::Placeholder(g5, "x", DType::kF32, {2, 3}), {0, 0}, {1, -2});
  REQUIRE_THAT(g5.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "size -2 in dimension 1 must be non-negative or -1"));
}

TEST_CASE("Split rejects sizes that do not sum to the dimension") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 4});
  std::vector<Tensor> pieces = ops::Split(x, {1, 2}, 1);
  REQUIRE(pieces.size() == 2);
  REQUIRE_FALSE(pieces[0].valid());
  REQUIRE_THAT(g.status(), StatusIs(StatusCode::kInvalidArgument,
                                    "sizes [1,2] sum to 3 but dimension 1 of x f32[2,4] is 4"));
  Graph g2;
  ops::Split(ops::Placeholder(g2, "x", DType::kF32, {2, 4}), {3, -1}, 0);
  REQUIRE_THAT(g2.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "sizes [3,-1] sum to 3 but dimension 0 of x f32[2,4] is 2"));
  Graph g3;
  ops::Split(ops::Placeholder(g3, "x", DType::kF32, {2, 4}), {-1, -1}, 1);
  REQUIRE_THAT(g3.status(),
               StatusIs(StatusCode::kInvalidArgument, "at most one size may be -1, got [-1,-1]"));
  Graph g4;
  ops::Split(ops::Placeholder(g4, "x", DType::kF32, {2, 4}), {6, -2}, 1);
  REQUIRE_THAT(g4.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "size -2 in [6,-2] must be non-negative or -1"));
  Graph g5;
  REQUIRE(ops::Split(ops::Placeholder(g5, "x", DType::kF32, {2, 4}), {}, 1).empty());
  REQUIRE_THAT(g5.status(), StatusIs(StatusCode::kInvalidArgument, "sizes must not be empty"));
  Graph g6;
  ops::Split(ops::Placeholder(g6, "x", DType::kF32, {2, 4}), {2}, 2);
  REQUIRE_THAT(g6.status(),
               StatusIs(StatusCode::kInvalidArgument, "axis 2 is out of range for rank 2"));
}

TEST_CASE("Pad rejects negative or miscounted paddings") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3});
  REQUIRE_FALSE(ops::Pad(x, {1, 0, -1, 0}).valid());
  REQUIRE_THAT(g.status(), StatusIs(StatusCode::kInvalidArgument,
                                    "paddings must be non-negative, got -1 at position 2 of "
                                    "[1,0,-1,0]"));
  Graph g2;
  ops::Pad(ops::Placeholder(g2, "x", DType::kF32, {2, 3}), {1, 1, 1});
  REQUIRE_THAT(g2.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "paddings [1,1,1] has 3 entries but x f32[2,3] needs 2 per "
                                     "dimension (4)"));
}

TEST_CASE("Gather reports an out-of-range index at run time with its value and position") {
  Graph g;
  Tensor params = ops::Const(g, Iota(DType::kF32, {3, 2}));
  Tensor indices = ops::Placeholder(g, "indices", DType::kI32, {2, 2});
  const int line = __LINE__ + 1;
  Tensor y = ops::Gather(params, indices);
  REQUIRE_THAT(g.status(), IsOk());
  absl::StatusOr<std::vector<Literal>> out =
      Run({y}, {{"indices", Literal(DType::kI32, {2, 2}, {0, 1, 3, 0})}});
  REQUIRE_THAT(out.status(),
               StatusIs(StatusCode::kInvalidArgument,
                        "Gather 'Gather' (array_test.cc:" + std::to_string(line) +
                            "): index 3 at position [1,0] of indices is out of range [0, 3)"));
  out = Run({y}, {{"indices", Literal(DType::kI32, {2, 2}, {0, -1, 2, 0})}});
  REQUIRE_THAT(out.status(), StatusIs(StatusCode::kInvalidArgument,
                                      "index -1 at position [0,1] of indices is out of range"));
  out = Run({y}, {{"indices", Literal(DType::kI32, {2, 2}, {0, 1, 2, 0})}});
  REQUIRE_THAT(out.status(), IsOk());
}

TEST_CASE("Gather rejects non-integer indices and scalar params") {
  Graph g;
  Tensor params = ops::Placeholder(g, "p", DType::kF32, {3, 2});
  REQUIRE_FALSE(ops::Gather(params, ops::Placeholder(g, "i", DType::kF32, {2})).valid());
  REQUIRE_THAT(g.status(), StatusIs(StatusCode::kInvalidArgument,
                                    "indices must be an integer type, got f32[2]"));
  Graph g2;
  ops::Gather(ops::Scalar(g2, 1.0), ops::Placeholder(g2, "i", DType::kI32, {2}));
  REQUIRE_THAT(g2.status(),
               StatusIs(StatusCode::kInvalidArgument, "params must have rank >= 1, got f32[]"));
  Graph g3;
  ops::Gather(ops::Placeholder(g3, "p", DType::kF32, {3}),
              ops::Placeholder(g3, "i", DType::kBool, {2}));
  REQUIRE_THAT(g3.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "indices must be an integer type, got bool[2]"));
}

TEST_CASE("ScatterAdd checks updates' shape, indices' dtype and, at run time, index range") {
  Graph g;
  Tensor indices = ops::Placeholder(g, "indices", DType::kI64, {2});
  Tensor bad = ops::Placeholder(g, "updates", DType::kF32, {2, 3});
  REQUIRE_FALSE(ops::ScatterAdd(indices, bad, {4, 5}).valid());
  REQUIRE_THAT(g.status(), StatusIs(StatusCode::kInvalidArgument,
                                    "updates f32[2,3] must have shape indices.shape + shape[1:] = "
                                    "[2,5] (indices i64[2], shape [4,5])"));
  Graph g2;
  ops::ScatterAdd(ops::Placeholder(g2, "i", DType::kF32, {2}),
                  ops::Placeholder(g2, "u", DType::kF32, {2}), {4});
  REQUIRE_THAT(g2.status(), StatusIs(StatusCode::kInvalidArgument,
                                     "indices must be an integer type, got f32[2]"));
  Graph g3;
  ops::ScatterAdd(ops::Placeholder(g3, "i", DType::kI32, {}),
                  ops::Placeholder(g3, "u", DType::kF32, {}), Shape{});
  REQUIRE_THAT(g3.status(),
               StatusIs(StatusCode::kInvalidArgument, "shape must have rank >= 1, got []"));

  Graph g4;
  Tensor i4 = ops::Placeholder(g4, "indices", DType::kI32, {3});
  Tensor y = ops::ScatterAdd(i4, ops::Const(g4, Iota(DType::kF32, {3})), {2});
  absl::StatusOr<std::vector<Literal>> out =
      Run({y}, {{"indices", Literal(DType::kI32, {3}, {1, 0, 2})}});
  REQUIRE_THAT(out.status(),
               StatusIs(StatusCode::kInvalidArgument, "ScatterAdd 'ScatterAdd' (array_test.cc:"));
  REQUIRE_THAT(out.status(), StatusIs(StatusCode::kInvalidArgument,
                                      "index 2 at position [2] of indices is out of range [0, 2)"));
}

TEST_CASE("OneHot requires integer indices and a positive depth") {
  Graph g;
  REQUIRE_FALSE(ops::OneHot(ops::Placeholder(g, "i", DType::kF32, {3}), 4).valid());
  REQUIRE_THAT(g.status(),
               StatusIs(StatusCode::kInvalidArgument, "OneHot 'OneHot' (array_test.cc:"));
  REQUIRE_THAT(g.status(), StatusIs(StatusCode::kInvalidArgument,
                                    "indices must be an integer type, got f32[3]"));
  Graph g2;
  ops::OneHot(ops::Placeholder(g2, "i", DType::kI32, {3}), 0);
  REQUIRE_THAT(g2.status(),
               StatusIs(StatusCode::kInvalidArgument, "depth must be positive, got 0"));
}

}  // namespace
}  // namespace kiln
