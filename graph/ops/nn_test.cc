// Tests for graph/ops/nn.cc: kernel values against independent computations, every gradient rule
// against central differences, and the user-facing error messages.
#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "catch2/catch.hpp"
#include "graph/autodiff.h"
#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

constexpr int kTrials = 20;
constexpr double kTolerance = 1e-6;
using Ints = std::vector<int64_t>;

int64_t UniformInt(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
}

Literal RandomF64(const Shape& shape, std::mt19937_64& rng, double lo = -1, double hi = 1) {
  return RandomLiteral(DType::kF64, shape, rng, lo, hi);
}

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

std::string IntsToString(const Ints& v) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < v.size(); ++i) s << (i ? "," : "") << v[i];
  s << "]";
  return s.str();
}

std::vector<Literal> Run(const Graph& g, const Feeds& feeds, const std::vector<Tensor>& fetches) {
  REQUIRE_THAT(g.status(), IsOk());
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  auto out = interpreter->Run(feeds, fetches);
  REQUIRE_THAT(out.status(), IsOk());
  return *out;
}

void RequireNear(const Literal& actual, const Literal& expected, double tolerance = 1e-9) {
  REQUIRE(actual.shape == expected.shape);
  for (int64_t i = 0; i < actual.size(); ++i) {
    CAPTURE(i, actual.values[i], expected.values[i]);
    REQUIRE(std::fabs(actual.values[i] - expected.values[i]) <= tolerance);
  }
}

// Checks the gradients of y with respect to `inputs` (float64 Placeholders) by central differences.
void RequireGradientsMatch(Tensor y, const std::vector<Tensor>& inputs, const Feeds& feeds,
                           uint64_t seed) {
  REQUIRE_THAT(y.graph()->status(), IsOk());
  auto check = CheckGradients(y, inputs, feeds, seed);
  REQUIRE_THAT(check.status(), IsOk());
  CAPTURE(check->worst, check->max_error);
  REQUIRE(check->max_error <= kTolerance);
}

// Checks the gradient rule's own gradients: differentiates sum(y * r) with respect to inputs[0]
// symbolically, then checks that result's gradients with respect to every input.
void RequireSecondOrderMatches(Tensor y, const std::vector<Tensor>& inputs, const Feeds& feeds,
                               uint64_t seed) {
  REQUIRE_THAT(y.graph()->status(), IsOk());
  std::mt19937_64 rng(seed + 1000);
  Tensor r = ops::Const(*y.graph(), RandomF64(y.shape(), rng));
  auto first = AddGradients(ops::ReduceSum(y * r), {inputs[0]});
  REQUIRE_THAT(first.status(), IsOk());
  RequireGradientsMatch((*first)[0], inputs, feeds, seed);
}

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

// {before, after} padding of one spatial dimension by TensorFlow's rules, derived without the op.
std::pair<int64_t, int64_t> NaivePads(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                                      const std::string& padding, int64_t lo, int64_t hi) {
  if (padding == "VALID") return {0, 0};
  if (padding == "EXPLICIT") return {lo, hi};
  const int64_t k_eff = (k - 1) * dilation + 1;
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>(0, (out - 1) * stride + k_eff - in);
  return {total / 2, total - total / 2};
}

int64_t NaiveOut(int64_t in, int64_t k, int64_t stride, int64_t dilation,
                 std::pair<int64_t, int64_t> pads) {
  return (in + pads.first + pads.second - ((k - 1) * dilation + 1)) / stride + 1;
}

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

double Dot(const Literal& a, const Literal& b) {
  REQUIRE(a.shape == b.shape);
  return std::inner_product(a.values.begin(), a.values.end(), b.values.begin(), 0.0);
}

Literal Iota(const Shape& shape, double start = 1) {
  Literal l(DType::kF64, shape);
  std::iota(l.values.begin(), l.values.end(), start);
  return l;
}

// ---- Registry ----

TEST_CASE("nn ops are registered with docs and the intended differentiability") {
  const std::vector<std::pair<std::string, bool>> expected = {
      {"MatMul", true},
      {"BatchMatMul", true},
      {"Conv2D", true},
      {"Conv2DBackpropInput", true},
      {"Conv2DBackpropFilter", true},
      {"MaxPool2D", true},
      {"AvgPool2D", true},
      {"MaxPool2DGrad", false},
      {"AvgPool2DGrad", true},
      {"Softmax", true},
      {"LogSoftmax", true},
      {"SparseSoftmaxCrossEntropy", true},
      {"SoftmaxCrossEntropy", true},
  };
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
    std::vector<Literal> out = Run(g, {}, {ops::Conv2D(tx, tf, c.o),
                                           ops::Conv2DBackpropInput(tg, tf, c.x, c.o),
                                           ops::Conv2DBackpropFilter(tx, tg, c.f, c.o)});
    const double forward = Dot(gy, out[0]);
    REQUIRE(std::fabs(Dot(out[1], x) - forward) <= 1e-9);
    REQUIRE(std::fabs(Dot(out[2], f) - forward) <= 1e-9);
  }
}

TEST_CASE("Pools match hand-computed values") {
  Graph g;
  Tensor x4 = ops::Const(g, Iota({1, 4, 4, 1}));  // 1..16
  Tensor x3 = ops::Const(g, Iota({1, 3, 3, 1}));  // 1..9
  ops::Pool2DOptions same;
  same.padding = "SAME";  // 3 -> 2 outputs, one padding row/column after
  std::vector<Literal> out =
      Run(g, {}, {ops::MaxPool2D(x4), ops::AvgPool2D(x4), ops::MaxPool2D(x3, same),
                  ops::AvgPool2D(x3, same)});
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
  std::vector<Literal> out = Run(g, {}, {ops::MaxPool2DGrad(x, dy, same),
                                         ops::AvgPool2DGrad(dy, Shape({1, 3, 3, 1}), same)});
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
      Run(g, {}, {ops::SparseSoftmaxCrossEntropy(tl, ops::Const(g, labels)),
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

TEST_CASE("Softmax and LogSoftmax gradients along random axes") {
  std::mt19937_64 rng(39);
  for (bool log : {false, true}) {
    for (int trial = 0; trial < kTrials; ++trial) {
      const Shape shape = RandomShape(rng, 1, 3, 4);
      const int64_t axis = UniformInt(rng, -shape.rank(), shape.rank() - 1);
      INFO((log ? "LogSoftmax" : "Softmax") << " trial " << trial << " " << shape.ToString()
                                             << " axis " << axis);
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

TEST_CASE("Gradient rules are themselves differentiable (second order)") {
  std::mt19937_64 rng(42);
  const int kSecondOrderTrials = 5;
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
    {
      PoolCase p = RandomPoolCase(rng);
      INFO(p.ToString());
      Graph g;
      Tensor x = ops::Placeholder(g, "x", DType::kF64, p.x);
      Tensor y = ops::Tanh(ops::AvgPool2D(x, p.o));
      RequireSecondOrderMatches(y, {x}, {{"x", RandomF64(p.x, rng)}}, trial);
    }
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
      RequireSecondOrderMatches(ops::SoftmaxCrossEntropy(logits, labels), {logits, labels},
                                {{"logits", RandomF64({3, 4}, rng, -2, 2)},
                                 {"labels", RandomF64({3, 4}, rng, 0, 1)}},
                                trial);
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

absl::Status BuildStatus(const std::function<void(Graph&)>& build) {
  Graph g;
  build(g);
  return g.status();
}

Tensor F32(Graph& g, const std::string& name, Shape shape) {
  return ops::Placeholder(g, name, DType::kF32, std::move(shape));
}

TEST_CASE("MatMul errors name both shapes, the op and the user's line") {
  Graph g;
  Tensor a = F32(g, "a", {128, 784});
  Tensor b = F32(g, "b", {512, 10});
  const int line = __LINE__ + 1;
  Tensor y = ops::MatMul(a, b);
  REQUIRE_FALSE(y.valid());
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "MatMul 'MatMul' (nn_test.cc:" + std::to_string(line) +
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

TEST_CASE("Conv2D shape and attribute errors") {
  auto conv = [](Shape x, Shape f, ops::Conv2DOptions o) {
    return BuildStatus([&](Graph& g) { ops::Conv2D(F32(g, "x", x), F32(g, "f", f), o); });
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  ops::Conv2DOptions o;
  REQUIRE_THAT(conv({1, 5, 5, 3}, {3, 3, 4, 8}, o),
               StatusIs(kInvalid, "input has 3 channels but the filter expects 4: input [1,5,5,3], "
                                  "filter [3,3,4,8]"));
  REQUIRE_THAT(conv({5, 5, 3}, {3, 3, 3, 8}, o),
               StatusIs(kInvalid, "expects a rank-4 NHWC input [n,h,w,c], got [5,5,3]"));
  REQUIRE_THAT(conv({1, 5, 5, 3}, {3, 3, 3}, o),
               StatusIs(kInvalid, "expects a rank-4 HWIO filter [kh,kw,c,o], got [3,3,3]"));
  REQUIRE_THAT(conv({1, 2, 4, 1}, {3, 3, 1, 1}, o),
               StatusIs(kInvalid, "output height would be 0: input height 2 with padding 0 (VALID) "
                                  "is smaller than the window of 3"));
  {
    ops::Conv2DOptions d = o;
    d.dilations = {1, 3};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, d),
                 StatusIs(kInvalid, "output width would be 0: input width 5 with padding 0 (VALID) "
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
                 StatusIs(kInvalid, "explicit_padding must have 4 elements {top, bottom, left, "
                                    "right}, got 2: [1,1]"));
    e.explicit_padding = {1, 1, -1, 0};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, e),
                 StatusIs(kInvalid, "explicit_padding must be non-negative"));
    e.padding = "SAME";
    e.explicit_padding = {1, 1, 1, 1};
    REQUIRE_THAT(conv({1, 5, 5, 1}, {3, 3, 1, 1}, e),
                 StatusIs(kInvalid, "is only used with padding EXPLICIT, not SAME"));
  }
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::Conv2D(F32(g, "x", {1, 5, 5, 1}),
                             ops::Placeholder(g, "f", DType::kF64, {3, 3, 1, 1}));
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
               StatusIs(kInvalid, "grad f32[1,4,4,2] does not match the Conv2D output [1,3,3,2] of "
                                  "input [1,5,5,1] and filter [3,3,1,2]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::Conv2DBackpropFilter(F32(g, "x", {1, 5, 5, 1}), F32(g, "gy", {1, 3, 3, 3}),
                                           Shape({3, 3, 1, 2}), {});
               }),
               StatusIs(kInvalid, "grad f32[1,3,3,3] does not match the Conv2D output [1,3,3,2]"));
}

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
               StatusIs(kInvalid, "grad f32[1,3,3,1] does not match the pool output [1,2,2,1] of "
                                  "input [1,4,4,1]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::MaxPool2DGrad(F32(g, "x", {1, 4, 4, 1}), F32(g, "gy", {1, 2, 2, 2}), {});
               }),
               StatusIs(kInvalid, "does not match the pool output [1,2,2,1]"));
}

TEST_CASE("Softmax and cross-entropy errors") {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  REQUIRE_THAT(BuildStatus([](Graph& g) {
                 ops::Softmax(ops::Placeholder(g, "x", DType::kI32, {2, 3}));
               }),
               StatusIs(kInvalid, "logits must be floating point, got i32[2,3]"));
  REQUIRE_THAT(BuildStatus([](Graph& g) { ops::LogSoftmax(F32(g, "x", {2, 3}), 2); }),
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
    auto out = interpreter->Run({{"logits", Literal(DType::kF32, {3, 3})},
                                 {"labels", Literal(DType::kI64, {3}, labels)}},
                                {loss});
    REQUIRE_THAT(out.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "SparseSoftmaxCrossEntropy 'SparseSoftmaxCrossEntropy'"));
    REQUIRE_THAT(out.status(), StatusIs(absl::StatusCode::kInvalidArgument, message));
  }
}

}  // namespace
}  // namespace kiln
