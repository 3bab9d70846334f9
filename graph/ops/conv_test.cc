// Tests for graph/ops/conv.cc: kernel values against a naive direct convolution, the backprops as
// Conv2D's adjoints, every gradient rule against central differences (and its own gradients), and
// the user-facing error messages.
#include <cmath>
#include <numeric>
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

struct ConvCase {
  Shape x, f;
  ops::Conv2DOptions o;
  std::string ToString() const {
    return "x " + x.ToString() + " f " + f.ToString() + " strides " + IntsToString(o.strides) +
           " dilations " + IntsToString(o.dilations) + " " + o.padding + " " +
           IntsToString(o.explicit_padding);
  }
};

ConvCase MakeConvCase(Shape x, Shape f, Ints strides, Ints dilations, std::string padding,
                      Ints explicit_padding = {}) {
  ConvCase c{std::move(x), std::move(f), {}};
  c.o.strides = std::move(strides);
  c.o.dilations = std::move(dilations);
  c.o.padding = std::move(padding);
  c.o.explicit_padding = std::move(explicit_padding);
  return c;
}

// Pads the input explicitly (materializing the zeros), then slides the dilated filter over it.
Literal NaiveConv2D(const Literal& x, const Literal& f, const ops::Conv2DOptions& o) {
  const int64_t n = x.shape[0], h = x.shape[1], w = x.shape[2], c = x.shape[3];
  const int64_t kh = f.shape[0], kw = f.shape[1], oc = f.shape[3];
  const Ints e = o.padding == "EXPLICIT" ? o.explicit_padding : Ints{0, 0, 0, 0};
  const auto ph = NaivePads(h, kh, o.strides[0], o.dilations[0], o.padding, e[0], e[1]);
  const auto pw = NaivePads(w, kw, o.strides[1], o.dilations[1], o.padding, e[2], e[3]);
  const int64_t hp = h + ph.first + ph.second, wp = w + pw.first + pw.second;
  std::vector<double> padded(n * hp * wp * c, 0.0);
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t i = 0; i < h; ++i) {
      for (int64_t j = 0; j < w; ++j) {
        for (int64_t ch = 0; ch < c; ++ch) {
          padded[((b * hp + i + ph.first) * wp + j + pw.first) * c + ch] =
              x.values[((b * h + i) * w + j) * c + ch];
        }
      }
    }
  }
  const int64_t oh = NaiveOut(h, kh, o.strides[0], o.dilations[0], ph);
  const int64_t ow = NaiveOut(w, kw, o.strides[1], o.dilations[1], pw);
  Literal y(DType::kF64, Shape({n, oh, ow, oc}));
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t i = 0; i < oh; ++i) {
      for (int64_t j = 0; j < ow; ++j) {
        for (int64_t oo = 0; oo < oc; ++oo) {
          double sum = 0;
          for (int64_t di = 0; di < kh; ++di) {
            for (int64_t dj = 0; dj < kw; ++dj) {
              const int64_t pi = i * o.strides[0] + di * o.dilations[0];
              const int64_t pj = j * o.strides[1] + dj * o.dilations[1];
              for (int64_t ch = 0; ch < c; ++ch) {
                sum += padded[((b * hp + pi) * wp + pj) * c + ch] *
                       f.values[((di * kw + dj) * c + ch) * oc + oo];
              }
            }
          }
          y.values[((b * oh + i) * ow + j) * oc + oo] = sum;
        }
      }
    }
  }
  return y;
}

Shape NaiveConvOutputShape(const ConvCase& c) {
  Literal y = NaiveConv2D(Literal(DType::kF64, c.x), Literal(DType::kF64, c.f), c.o);
  return y.shape;
}

// A random valid convolution: batch <= 2, spatial <= 5, channels <= 3, filter <= 3x3, strides and
// dilations in {1, 2}, any padding mode.
ConvCase RandomConvCase(std::mt19937_64& rng) {
  static const char* kPaddings[] = {"VALID", "SAME", "EXPLICIT"};
  while (true) {
    const int64_t h = UniformInt(rng, 1, 5), w = UniformInt(rng, 1, 5);
    const int64_t kh = UniformInt(rng, 1, 3), kw = UniformInt(rng, 1, 3);
    const int64_t c = UniformInt(rng, 1, 3);
    const Ints strides = {UniformInt(rng, 1, 2), UniformInt(rng, 1, 2)};
    const Ints dilations = {UniformInt(rng, 1, 2), UniformInt(rng, 1, 2)};
    const std::string padding = kPaddings[UniformInt(rng, 0, 2)];
    Ints pads;
    if (padding == "EXPLICIT") {
      for (int i = 0; i < 4; ++i) pads.push_back(UniformInt(rng, 0, 2));
    }
    const Ints e = pads.empty() ? Ints{0, 0, 0, 0} : pads;
    if (padding != "SAME" && (h + e[0] + e[1] < (kh - 1) * dilations[0] + 1 ||
                              w + e[2] + e[3] < (kw - 1) * dilations[1] + 1)) {
      continue;  // no complete window: an error case, tested separately
    }
    return MakeConvCase(Shape({UniformInt(rng, 1, 2), h, w, c}),
                        Shape({kh, kw, c, UniformInt(rng, 1, 3)}), strides, dilations, padding,
                        pads);
  }
}

double Dot(const Literal& a, const Literal& b) {
  REQUIRE(a.shape == b.shape);
  return std::inner_product(a.values.begin(), a.values.end(), b.values.begin(), 0.0);
}

TEST_CASE("Convolution ops are registered with docs and the intended differentiability") {
  const std::vector<std::pair<std::string, bool>> expected = {
      {"Conv2D", true},
      {"Conv2DBackpropInput", true},
      {"Conv2DBackpropFilter", true},
  };
  RequireRegistered(expected);
}

// ---- Kernel values ----

TEST_CASE("Conv2D matches hand-computed values") {
  Graph g;
  Tensor x = ops::Const(g, Iota({1, 3, 3, 1}));  // 1..9
  Tensor ones2 = ops::Const(g, Literal(DType::kF64, {2, 2, 1, 1}, {1, 1, 1, 1}));
  Tensor ones3 =
      ops::Const(g, Literal(DType::kF64, Shape({3, 3, 1, 1}), std::vector<double>(9, 1)));
  ops::Conv2DOptions same;
  same.padding = "SAME";
  Tensor valid = ops::Conv2D(x, ones2);
  Tensor sums = ops::Conv2D(x, ones3, same);  // sums of 3x3 neighbourhoods
  REQUIRE(valid.shape() == Shape({1, 2, 2, 1}));
  REQUIRE(sums.shape() == Shape({1, 3, 3, 1}));
  std::vector<Literal> out = Run(g, {}, {valid, sums});
  REQUIRE(out[0].values == std::vector<double>{12, 16, 24, 28});
  REQUIRE(out[1].values == std::vector<double>{12, 21, 16, 27, 45, 33, 24, 39, 28});
}

TEST_CASE("Conv2D SAME gives ceil(in / stride) outputs") {
  for (int64_t in = 1; in <= 7; ++in) {
    for (int64_t stride = 1; stride <= 3; ++stride) {
      for (int64_t k = 1; k <= 4; ++k) {
        Graph g;
        ops::Conv2DOptions o;
        o.padding = "SAME";
        o.strides = {stride, stride};
        Tensor y = ops::Conv2D(ops::Placeholder(g, "x", DType::kF32, {1, in, in, 1}),
                               ops::Placeholder(g, "f", DType::kF32, {k, k, 1, 1}), o);
        const int64_t out = (in + stride - 1) / stride;
        INFO("in " << in << " stride " << stride << " k " << k);
        REQUIRE(y.shape() == Shape({1, out, out, 1}));
      }
    }
  }
}

TEST_CASE("Conv2D matches a naive direct convolution") {
  std::vector<ConvCase> cases = {
      MakeConvCase({1, 5, 5, 1}, {3, 3, 1, 1}, {1, 1}, {1, 1}, "VALID"),
      MakeConvCase({2, 6, 7, 3}, {3, 2, 3, 2}, {2, 2}, {1, 1}, "VALID"),
      MakeConvCase({1, 7, 7, 2}, {3, 3, 2, 2}, {1, 1}, {2, 2}, "VALID"),
      MakeConvCase({1, 5, 6, 2}, {3, 3, 2, 3}, {2, 2}, {1, 1}, "SAME"),
      MakeConvCase({2, 4, 4, 1}, {2, 2, 1, 2}, {1, 1}, {1, 1}, "SAME"),  // pads only after
      MakeConvCase({1, 6, 6, 1}, {2, 2, 1, 1}, {2, 2}, {2, 2}, "SAME"),
      MakeConvCase({1, 5, 5, 2}, {3, 3, 2, 2}, {2, 1}, {1, 2}, "EXPLICIT", {1, 2, 0, 1}),
      MakeConvCase({1, 3, 4, 1}, {2, 3, 1, 2}, {1, 2}, {1, 1}, "EXPLICIT", {0, 0, 3, 0}),
  };
  std::mt19937_64 rng(21);
  for (int i = 0; i < kTrials; ++i) cases.push_back(RandomConvCase(rng));
  for (const ConvCase& c : cases) {
    INFO(c.ToString());
    Graph g;
    Literal x = RandomF64(c.x, rng);
    Literal f = RandomF64(c.f, rng);
    Tensor y = ops::Conv2D(ops::Const(g, x), ops::Const(g, f), c.o);
    RequireNear(Run(g, {}, {y})[0], NaiveConv2D(x, f, c.o));
  }
}

TEST_CASE("Conv2D backprops are the adjoints of Conv2D") {
  // <G, Conv2D(X, F)> = <BackpropInput(G, F), X> = <BackpropFilter(X, G), F> for all X, F, G.
  std::mt19937_64 rng(22);
  for (int trial = 0; trial < kTrials; ++trial) {
    ConvCase c = RandomConvCase(rng);
    INFO(c.ToString());
    Graph g;
    Literal x = RandomF64(c.x, rng);
    Literal f = RandomF64(c.f, rng);
    Literal gy = RandomF64(NaiveConvOutputShape(c), rng);
    Tensor tx = ops::Const(g, x), tf = ops::Const(g, f), tg = ops::Const(g, gy);
    std::vector<Literal> out =
        Run(g, {},
            {ops::Conv2D(tx, tf, c.o), ops::Conv2DBackpropInput(tg, tf, c.x, c.o),
             ops::Conv2DBackpropFilter(tx, tg, c.f, c.o)});
    const double forward = Dot(gy, out[0]);
    REQUIRE(std::fabs(Dot(out[1], x) - forward) <= 1e-9);
    REQUIRE(std::fabs(Dot(out[2], f) - forward) <= 1e-9);
  }
}

// ---- Gradients (float64, central differences) ----

TEST_CASE("Conv2D gradients over random strides, dilations and padding") {
  std::mt19937_64 rng(33);
  for (int trial = 0; trial < kTrials; ++trial) {
    ConvCase c = RandomConvCase(rng);
    INFO("trial " << trial << " " << c.ToString());
    Graph g;
    Tensor x = ops::Placeholder(g, "x", DType::kF64, c.x);
    Tensor f = ops::Placeholder(g, "f", DType::kF64, c.f);
    RequireGradientsMatch(ops::Conv2D(x, f, c.o), {x, f},
                          {{"x", RandomF64(c.x, rng)}, {"f", RandomF64(c.f, rng)}}, trial);
  }
}

TEST_CASE("Conv2DBackpropInput gradients") {
  std::mt19937_64 rng(34);
  for (int trial = 0; trial < kTrials; ++trial) {
    ConvCase c = RandomConvCase(rng);
    INFO("trial " << trial << " " << c.ToString());
    const Shape gy_shape = NaiveConvOutputShape(c);
    Graph g;
    Tensor gy = ops::Placeholder(g, "gy", DType::kF64, gy_shape);
    Tensor f = ops::Placeholder(g, "f", DType::kF64, c.f);
    RequireGradientsMatch(ops::Conv2DBackpropInput(gy, f, c.x, c.o), {gy, f},
                          {{"gy", RandomF64(gy_shape, rng)}, {"f", RandomF64(c.f, rng)}}, trial);
  }
}

TEST_CASE("Conv2DBackpropFilter gradients") {
  std::mt19937_64 rng(35);
  for (int trial = 0; trial < kTrials; ++trial) {
    ConvCase c = RandomConvCase(rng);
    INFO("trial " << trial << " " << c.ToString());
    const Shape gy_shape = NaiveConvOutputShape(c);
    Graph g;
    Tensor x = ops::Placeholder(g, "x", DType::kF64, c.x);
    Tensor gy = ops::Placeholder(g, "gy", DType::kF64, gy_shape);
    RequireGradientsMatch(ops::Conv2DBackpropFilter(x, gy, c.f, c.o), {x, gy},
                          {{"x", RandomF64(c.x, rng)}, {"gy", RandomF64(gy_shape, rng)}}, trial);
  }
}

TEST_CASE("Conv2D gradient rules are differentiable (second order)") {
  std::mt19937_64 rng(43);
  for (int trial = 0; trial < kSecondOrderTrials; ++trial) {
    INFO("trial " << trial);
    {
      ConvCase c = RandomConvCase(rng);
      INFO(c.ToString());
      Graph g;
      Tensor x = ops::Placeholder(g, "x", DType::kF64, c.x);
      Tensor f = ops::Placeholder(g, "f", DType::kF64, c.f);
      Tensor y = ops::Tanh(ops::Conv2D(x, f, c.o));
      RequireSecondOrderMatches(y, {x, f}, {{"x", RandomF64(c.x, rng)}, {"f", RandomF64(c.f, rng)}},
                                trial);
    }
  }
}

// ---- Errors ----

TEST_CASE("Conv2D shape and attribute errors") {
  auto conv = [](Shape x, Shape f, ops::Conv2DOptions o) {
    return BuildStatus([&](Graph& g) { ops::Conv2D(F32(g, "x", x), F32(g, "f", f), o); });
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  ops::Conv2DOptions o;
  REQUIRE_THAT(conv({1, 5, 5, 3}, {3, 3, 4, 8}, o),
               StatusIs(kInvalid,
                        "input has 3 channels but the filter expects 4: input [1,5,5,3], "
                        "filter [3,3,4,8]"));
  REQUIRE_THAT(conv({5, 5, 3}, {3, 3, 3, 8}, o),
               StatusIs(kInvalid, "expects a rank-4 NHWC input [n,h,w,c], got [5,5,3]"));
  REQUIRE_THAT(conv({1, 5, 5, 3}, {3, 3, 3}, o),
               StatusIs(kInvalid, "expects a rank-4 HWIO filter [kh,kw,c,o], got [3,3,3]"));
  REQUIRE_THAT(conv({1, 2, 4, 1}, {3, 3, 1, 1}, o),
               StatusIs(kInvalid,
                        "output height would be 0: input height 2 with padding 0 (VALID) "
                        "is smaller than the window of 3"));
  {
    ops::Conv2DOptions d = o;
    d.dilations = {1, 3};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, d),
                 StatusIs(kInvalid,
                          "output width would be 0: input width 5 with padding 0 (VALID) "
                          "is smaller than the window of 3 dilated to 7"));
  }
  {
    ops::Conv2DOptions p = o;
    p.padding = "same";
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, p),
                 StatusIs(kInvalid, "padding must be VALID, SAME or EXPLICIT, got 'same'"));
  }
  {
    ops::Conv2DOptions s = o;
    s.strides = {1, 1, 1};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, s),
                 StatusIs(kInvalid, "strides must have 2 elements {h, w}, got 3: [1,1,1]"));
    s.strides = {1, 0};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, s),
                 StatusIs(kInvalid, "strides must be positive, got [1,0]"));
    s.strides = {1, 1};
    s.dilations = {-1, 1};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, s),
                 StatusIs(kInvalid, "dilations must be positive, got [-1,1]"));
  }
  {
    ops::Conv2DOptions e = o;
    e.padding = "EXPLICIT";
    e.explicit_padding = {1, 1};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, e),
                 StatusIs(kInvalid,
                          "explicit_padding must have 4 elements {top, bottom, left, "
                          "right}, got 2: [1,1]"));
    e.explicit_padding = {1, 1, -1, 0};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, e),
                 StatusIs(kInvalid, "explicit_padding must be non-negative"));
    e.padding = "SAME";
    e.explicit_padding = {1, 1, 1, 1};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, e),
                 StatusIs(kInvalid, "is only used with padding EXPLICIT, not SAME"));
  }
  REQUIRE_THAT(
      BuildStatus([](Graph& g) {
        ops::Conv2D(F32(g, "x", {1, 5, 5, 1}), ops::Placeholder(g, "f", DType::kF64, {3, 3, 1, 1}));
      }),
      StatusIs(kInvalid, "dtypes differ: f32[1,5,5,1] vs f64[3,3,1,1]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::Conv2D(ops::Placeholder(g, "x", DType::kI32, {1, 5, 5, 1}),
                             ops::Placeholder(g, "f", DType::kI32, {3, 3, 1, 1}));
               }),
               StatusIs(kInvalid, "input must be floating point, got i32[1,5,5,1]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::Conv2DBackpropInput(F32(g, "gy", {1, 4, 4, 2}), F32(g, "f", {3, 3, 1, 2}),
                                          Shape({1, 5, 5, 1}), {});
               }),
               StatusIs(kInvalid,
                        "grad f32[1,4,4,2] does not match the Conv2D output [1,3,3,2] of "
                        "input [1,5,5,1] and filter [3,3,1,2]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::Conv2DBackpropFilter(F32(g, "x", {1, 5, 5, 1}), F32(g, "gy", {1, 3, 3, 3}),
                                           Shape({3, 3, 1, 2}), {});
               }),
               StatusIs(kInvalid, "grad f32[1,3,3,3] does not match the Conv2D output [1,3,3,2]"));
}

}  // namespace
}  // namespace kiln
