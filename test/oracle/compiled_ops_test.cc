// Compiled code against the reference interpreter: each lowered op, on random shapes and values,
// and a small MLP forward pass, on every backend: built by LowerGraph, compiled by the CPU pipeline
// for three CPU configurations and run in process by MLIR's JIT (the AOT path emits the same LLVM
// module as an object), and compiled for the CUDA target (ptxas; run on a GPU where one is usable).
#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "catch2/catch.hpp"
#include "graph/autodiff.h"
#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/status_macros.h"
#include "llvm/Support/TargetSelect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "passes/graph_lowering.h"
#include "passes/node_lowering.h"
#include "passes/pipeline.h"
#include "testing/gpu_testing.h"
#include "testing/jit_runner.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

// Compiles `outputs` and runs them once with `feeds` and the variables' initial values.
absl::StatusOr<std::vector<Literal>> CompileAndRun(const Graph& g,
                                                   const std::vector<Tensor>& outputs,
                                                   const Feeds& feeds, const Target& target,
                                                   int threads, bool split_reductions = false) {
  KILN_ASSIGN_OR_RETURN(
      std::unique_ptr<JitGraph> jit,
      JitGraph::Compile(g, outputs, /*apply_updates=*/false, target, threads, split_reductions));
  return jit->Run(feeds);
}

// Requires |compiled - reference| <= tolerance * max(1, |reference|) for every element.
void RequireClose(const std::vector<Literal>& compiled, const std::vector<Literal>& reference,
                  double tolerance) {
  REQUIRE(compiled.size() == reference.size());
  for (size_t k = 0; k < reference.size(); ++k) {
    const Literal& c = compiled[k];
    const Literal& r = reference[k];
    for (int64_t i = 0; i < r.size(); ++i) {
      INFO("output " << k << " element " << i << ": compiled " << c.values[i] << ", interpreter "
                     << r.values[i]);
      REQUIRE(std::fabs(c.values[i] - r.values[i]) <=
              tolerance * std::max(1.0, std::fabs(r.values[i])));
    }
  }
}

// The CUDA backend: every kernel of `outputs` is valid sm_90 PTX (ptxas), the case is recorded for
// GPU machines (test/gpu), and where a GPU is usable the kernels run (GpuJitGraph) and are compared
// with the interpreter's `reference`.
void CompareOnCuda(const Graph& g, const std::vector<Tensor>& outputs, const Feeds& feeds,
                   double tolerance, const std::vector<Literal>& reference) {
  if (!testing::CudaToolkit()) return;
  INFO("backend cuda");
  auto kernels = testing::CompileGraphToPtx(g, outputs);
  REQUIRE_THAT(kernels.status(), IsOk());
  testing::RequireValidPtx(*kernels);
  GpuCase spec;
  spec.outputs = outputs;
  spec.feeds = feeds;
  spec.tolerance = tolerance;
  testing::RecordGpuCase(g, spec);
  if (testing::UsableGpu() == nullptr) return;
  auto jit = GpuJitGraph::Compile(g, outputs, testing::UsableGpu());
  REQUIRE_THAT(jit.status(), IsOk());
  auto compiled = (*jit)->Run(feeds);
  REQUIRE_THAT(compiled.status(), IsOk());
  RequireClose(*compiled, reference, tolerance);
}

// Runs `outputs` on every backend and on the interpreter, and requires
// |compiled - reference| <= tolerance * max(1, |reference|): on the CPU with oneDNN calls on 3
// threads, as loops on 1, and as loops with long reductions split into parts as the GPU pipeline
// does; then on the CUDA target.
void Compare(const Graph& g, const std::vector<Tensor>& outputs, const Feeds& feeds,
             double tolerance) {
  REQUIRE_THAT(g.status(), IsOk());
  auto interpreter = Interpreter::Create(g);
  auto reference = interpreter->Run(feeds, outputs);
  REQUIRE_THAT(reference.status(), IsOk());
  struct Backend {
    const char* name;
    const char* target;
    int threads;
    bool split;
  };
  for (const Backend& backend : {Backend{"cpu-dnnl", "x86_64", 3, false},
                                 Backend{"cpu-loops", "x86_64,library=none", 1, false},
                                 Backend{"cpu-split", "x86_64,library=none", 1, true}}) {
    INFO("backend " << backend.name);
    auto compiled = CompileAndRun(g, outputs, feeds, *ParseTarget(backend.target), backend.threads,
                                  backend.split);
    REQUIRE_THAT(compiled.status(), IsOk());
    RequireClose(*compiled, *reference, tolerance);
  }
  CompareOnCuda(g, outputs, feeds, tolerance, *reference);
}

constexpr double kExact = 1e-5, kTranscendental = 1e-4;

TEST_CASE("Tensors without elements compile") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {0, 3});
  Tensor w = ops::Variable(g, "w", DType::kF32, {2, 0});
  // Summing no rows gives zeros; the empty tensors themselves pass through.
  Compare(g, {ops::ReduceSum(x, {0}), ops::Neg(x), ops::Exp(w)},
          {{"x", Literal(DType::kF32, {0, 3})}}, kExact);
}

// Outputs whose computations start from identical empty tensors and fills must still get buffers of
// their own (the pipeline once merged them by running CSE before bufferization).
TEST_CASE("Several outputs of the same shape each keep their own result") {
  std::mt19937_64 rng(31);
  Graph g;
  Tensor a = ops::Placeholder(g, "a", DType::kF32, {3, 4});
  Tensor b = ops::Placeholder(g, "b", DType::kF32, {4, 5});
  Tensor c = ops::Placeholder(g, "c", DType::kF32, {4, 5});
  Compare(
      g,
      {ops::MatMul(a, b), ops::MatMul(a, c), ops::ReduceSum(a, {1}), ops::ReduceSum(a * 2.0, {1})},
      {{"a", RandomLiteral(DType::kF32, {3, 4}, rng)},
       {"b", RandomLiteral(DType::kF32, {4, 5}, rng)},
       {"c", RandomLiteral(DType::kF32, {4, 5}, rng)}},
      kExact);
}

// Integers uniform in [lo, hi].
Literal RandomInts(DType dtype, const Shape& shape, std::mt19937_64& rng, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  Literal l(dtype, shape);
  for (double& v : l.values) v = static_cast<double>(dist(rng));
  return l;
}

// Small whole numbers as floats: maxima are often tied.
Literal RandomTies(const Shape& shape, std::mt19937_64& rng) {
  return RandomInts(DType::kF32, shape, rng, 0, 3);
}

// A random axis of `rank`, negative half the time.
int64_t RandomAxis(std::mt19937_64& rng, int rank) {
  const int64_t axis = static_cast<int64_t>(rng() % rank);
  return rng() % 2 ? axis - rank : axis;
}

TEST_CASE("Compiled unary ops match the interpreter") {
  struct Case {
    const char* name;
    std::function<Tensor(Tensor)> build;
    double lo, hi, tolerance;
  };
  const std::vector<Case> cases = {
      {"Neg", [](Tensor x) { return ops::Neg(x); }, -3, 3, kExact},
      {"Abs", [](Tensor x) { return ops::Abs(x); }, -3, 3, kExact},
      {"Sign", [](Tensor x) { return ops::Sign(x); }, -3, 3, kExact},
      {"Exp", [](Tensor x) { return ops::Exp(x); }, -5, 5, kTranscendental},
      {"Log", [](Tensor x) { return ops::Log(x); }, 0.01, 10, kTranscendental},
      {"Log1p", [](Tensor x) { return ops::Log1p(x); }, -0.9, 10, kTranscendental},
      {"Sqrt", [](Tensor x) { return ops::Sqrt(x); }, 0, 10, kTranscendental},
      {"Rsqrt", [](Tensor x) { return ops::Rsqrt(x); }, 0.01, 10, kTranscendental},
      {"Square", [](Tensor x) { return ops::Square(x); }, -3, 3, kExact},
      {"Reciprocal", [](Tensor x) { return ops::Reciprocal(x); }, 0.1, 3, kExact},
      {"Tanh", [](Tensor x) { return ops::Tanh(x); }, -5, 5, kTranscendental},
      {"Sigmoid", [](Tensor x) { return ops::Sigmoid(x); }, -8, 8, kTranscendental},
      {"Relu", [](Tensor x) { return ops::Relu(x); }, -3, 3, kExact},
      {"Gelu", [](Tensor x) { return ops::Gelu(x); }, -4, 4, kTranscendental},
      {"GeluTanh", [](Tensor x) { return ops::Gelu(x, true); }, -4, 4, kTranscendental},
      {"Erf", [](Tensor x) { return ops::Erf(x); }, -3, 3, kTranscendental},
      {"Sin", [](Tensor x) { return ops::Sin(x); }, -6, 6, kTranscendental},
      {"Cos", [](Tensor x) { return ops::Cos(x); }, -6, 6, kTranscendental},
      {"Floor", [](Tensor x) { return ops::Floor(x); }, -6, 6, kExact},
      {"Identity", [](Tensor x) { return ops::Identity(x); }, -3, 3, kExact},
      {"Reshape", [](Tensor x) { return ops::Reshape(x, {-1}); }, -3, 3, kExact},
      {"CastI32", [](Tensor x) { return ops::Cast(x, DType::kI32); }, -50, 50, kExact},
      {"CastF64", [](Tensor x) { return ops::Cast(x, DType::kF64); }, -3, 3, kExact},
  };
  std::mt19937_64 rng(21);
  for (const Case& c : cases) {
    for (int trial = 0; trial < 3; ++trial) {
      Graph g;
      Shape shape = RandomShape(rng, 0, 3, 5);
      Tensor x = ops::Placeholder(g, "x", DType::kF32, shape);
      INFO(c.name << " " << shape.ToString());
      Compare(g, {c.build(x)}, {{"x", RandomLiteral(DType::kF32, shape, rng, c.lo, c.hi)}},
              c.tolerance);
    }
  }
}

TEST_CASE("Compiled binary ops, comparisons and Select broadcast like the interpreter") {
  struct Case {
    const char* name;
    std::function<Tensor(Tensor, Tensor)> build;
    double lo, hi;
  };
  const std::vector<Case> cases = {
      {"Add", [](Tensor a, Tensor b) { return a + b; }, -3, 3},
      {"Sub", [](Tensor a, Tensor b) { return a - b; }, -3, 3},
      {"Mul", [](Tensor a, Tensor b) { return a * b; }, -3, 3},
      {"Div", [](Tensor a, Tensor b) { return a / b; }, 0.5, 3},
      {"Pow", [](Tensor a, Tensor b) { return ops::Pow(a, b); }, 0.5, 2},
      {"Maximum", [](Tensor a, Tensor b) { return ops::Maximum(a, b); }, -3, 3},
      {"Minimum", [](Tensor a, Tensor b) { return ops::Minimum(a, b); }, -3, 3},
      {"Less", [](Tensor a, Tensor b) { return ops::Less(a, b); }, -3, 3},
      {"Greater", [](Tensor a, Tensor b) { return ops::Greater(a, b); }, -3, 3},
      {"Equal", [](Tensor a, Tensor b) { return ops::Equal(ops::Floor(a), ops::Floor(b)); }, -2, 2},
      {"LogicalAnd",
       [](Tensor a, Tensor b) {
         return ops::LogicalAnd(ops::Less(a, b), ops::LogicalNot(ops::Greater(a, a * 0.0)));
       },
       -3, 3},
      {"Select", [](Tensor a, Tensor b) { return ops::Select(ops::Less(a, b), a, b * 2.0); }, -3,
       3},
      {"BroadcastTo",
       [](Tensor a, Tensor b) {
         return ops::BroadcastTo(a, BroadcastShapes(a.shape(), b.shape()).value());
       },
       -3, 3},
  };
  std::mt19937_64 rng(22);
  for (const Case& c : cases) {
    for (int trial = 0; trial < 3; ++trial) {
      Graph g;
      Shape big = RandomShape(rng, 0, 3, 4);
      Shape small = RandomBroadcastableShape(big, rng);
      const bool swap = trial % 2;
      Shape sa = swap ? small : big, sb = swap ? big : small;
      Tensor a = ops::Placeholder(g, "a", DType::kF32, sa);
      Tensor b = ops::Placeholder(g, "b", DType::kF32, sb);
      INFO(c.name << " " << sa.ToString() << " " << sb.ToString());
      Compare(g, {c.build(a, b)},
              {{"a", RandomLiteral(DType::kF32, sa, rng, c.lo, c.hi)},
               {"b", RandomLiteral(DType::kF32, sb, rng, c.lo, c.hi)}},
              kTranscendental);
    }
  }
}

TEST_CASE("Compiled reductions and MatMul match the interpreter") {
  std::mt19937_64 rng(23);
  using Reducer = Tensor (*)(Tensor, std::vector<int64_t>, bool, SourceLoc);
  for (Reducer reduce :
       {static_cast<Reducer>(ops::ReduceSum), static_cast<Reducer>(ops::ReduceMean),
        static_cast<Reducer>(ops::ReduceMax), static_cast<Reducer>(ops::ReduceMin),
        static_cast<Reducer>(ops::ReduceProd)}) {
    for (int trial = 0; trial < 4; ++trial) {
      Graph g;
      Shape shape = RandomShape(rng, 1, 3, 4);
      std::vector<int64_t> axes;
      for (int d = 0; d < shape.rank(); ++d)
        if (rng() % 2) axes.push_back(d);
      Tensor x = ops::Placeholder(g, "x", DType::kF32, shape);
      INFO(shape.ToString() << " trial " << trial);
      Compare(g, {reduce(x, axes, trial % 2, SourceLoc::Current())},
              {{"x", RandomLiteral(DType::kF32, shape, rng, 0.5, 1.5)}}, kExact);
    }
  }
  for (int trial = 0; trial < 8; ++trial) {
    Graph g;
    const int64_t m = 1 + rng() % 9, k = 1 + rng() % 9, n = 1 + rng() % 9;
    const bool ta = trial & 1, tb = trial & 2;
    Shape sa = ta ? Shape({k, m}) : Shape({m, k}), sb = tb ? Shape({n, k}) : Shape({k, n});
    Tensor a = ops::Placeholder(g, "a", DType::kF32, sa);
    Tensor b = ops::Placeholder(g, "b", DType::kF32, sb);
    Compare(
        g, {ops::MatMul(a, b, ta, tb)},
        {{"a", RandomLiteral(DType::kF32, sa, rng)}, {"b", RandomLiteral(DType::kF32, sb, rng)}},
        kExact);
  }
}

TEST_CASE("A compiled MLP forward pass with variables matches the interpreter") {
  Graph g;
  layers::Model model(g, 4);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {16, 32});
  Tensor h = model.Dense(x, 24, layers::Activation::kRelu);
  Tensor logits = model.Dense(h, 10);
  Tensor mean_logit = ops::ReduceMean(logits, {1}, true);
  std::mt19937_64 rng(24);
  Compare(g, {logits, mean_logit}, {{"x", RandomLiteral(DType::kF32, {16, 32}, rng)}}, kExact);
}

TEST_CASE("Compiled softmax ops and losses match the interpreter") {
  std::mt19937_64 rng(25);
  for (bool log : {false, true}) {
    for (int trial = 0; trial < 4; ++trial) {
      Graph g;
      Shape shape = RandomShape(rng, 1, 3, 5);
      const int64_t axis = RandomAxis(rng, shape.rank());
      Tensor x = ops::Placeholder(g, "x", DType::kF32, shape);
      // The last trial's logits are large: the max shift must keep exp from overflowing.
      const double range = trial == 3 ? 80 : 5;
      INFO((log ? "LogSoftmax " : "Softmax ") << shape.ToString() << " axis " << axis);
      Compare(g, {log ? ops::LogSoftmax(x, axis) : ops::Softmax(x, axis)},
              {{"x", RandomLiteral(DType::kF32, shape, rng, -range, range)}}, kTranscendental);
    }
  }
  for (int trial = 0; trial < 4; ++trial) {
    Graph g;
    const int64_t n = 1 + rng() % 6, classes = 1 + rng() % 7;
    const DType label_dtype = trial % 2 ? DType::kI32 : DType::kI64;
    Tensor logits = ops::Placeholder(g, "logits", DType::kF32, {n, classes});
    Tensor sparse = ops::Placeholder(g, "sparse", label_dtype, {n});
    Tensor dense = ops::Placeholder(g, "dense", DType::kF32, {n, classes});
    INFO("cross-entropy [" << n << "," << classes << "]");
    Compare(
        g,
        {ops::SparseSoftmaxCrossEntropy(logits, sparse), ops::SoftmaxCrossEntropy(logits, dense)},
        {{"logits", RandomLiteral(DType::kF32, {n, classes}, rng, -20, 20)},
         {"sparse", RandomInts(label_dtype, {n}, rng, 0, classes - 1)},
         {"dense", RandomLiteral(DType::kF32, {n, classes}, rng, 0, 1)}},
        kTranscendental);
  }
}

TEST_CASE("Compiled OneHot and ArgMax give the interpreter's integers") {
  std::mt19937_64 rng(26);
  for (int trial = 0; trial < 4; ++trial) {
    Graph g;
    Shape shape = RandomShape(rng, 0, 2, 4);
    const int64_t depth = 1 + rng() % 5;
    const DType index_dtype = trial % 2 ? DType::kI32 : DType::kI64;
    const DType dtype = trial < 2 ? DType::kF32 : DType::kI32;
    Tensor indices = ops::Placeholder(g, "i", index_dtype, shape);
    INFO("OneHot " << shape.ToString() << " depth " << depth);
    // Out-of-range indices (-1, depth) give all-zero rows.
    Compare(g, {ops::OneHot(indices, depth, dtype)},
            {{"i", RandomInts(index_dtype, shape, rng, -1, depth)}}, kExact);
  }
  for (int trial = 0; trial < 4; ++trial) {
    Graph g;
    Shape shape = RandomShape(rng, 1, 3, 5);
    const int64_t axis = RandomAxis(rng, shape.rank());
    Tensor x = ops::Placeholder(g, "x", DType::kF32, shape);
    INFO("ArgMax " << shape.ToString() << " axis " << axis);
    Compare(g, {ops::ArgMax(x, axis, trial % 2 ? DType::kI32 : DType::kI64)},
            {{"x", RandomTies(shape, rng)}}, kExact);
  }
}

TEST_CASE("Compiled data movement matches the interpreter") {
  std::mt19937_64 rng(27);
  // The compiled function cannot yet take zero-size tensors (see the report on LowerGraph), so
  // every extent here is at least 1.
  auto random_below = [&rng](int64_t n) { return static_cast<int64_t>(rng() % n); };
  for (int trial = 0; trial < 4; ++trial) {
    Graph g;
    Shape shape = RandomShape(rng, 0, 4, 4);
    std::vector<int64_t> perm(shape.rank());
    for (int d = 0; d < shape.rank(); ++d) perm[d] = d;
    std::shuffle(perm.begin(), perm.end(), rng);
    Tensor x = ops::Placeholder(g, "x", DType::kF32, shape);
    INFO("Transpose " << shape.ToString());
    Compare(g, {ops::Transpose(x, perm)}, {{"x", RandomLiteral(DType::kF32, shape, rng)}}, kExact);
  }
  for (int trial = 0; trial < 3; ++trial) {
    // Concat of 1-3 pieces and Split back into other pieces; Slice and Pad of the same x.
    Graph g;
    Shape shape = RandomShape(rng, 1, 3, 4);
    const int64_t axis = RandomAxis(rng, shape.rank());
    const int64_t a = axis < 0 ? axis + shape.rank() : axis;
    Feeds feeds;
    std::vector<Tensor> pieces;
    for (int i = 0; i <= trial; ++i) {
      std::vector<int64_t> dims = shape.dims();
      dims[a] = 1 + rng() % 3;
      const std::string name = "x" + std::to_string(i);
      pieces.push_back(ops::Placeholder(g, name, DType::kF32, Shape(dims)));
      feeds[name] = RandomLiteral(DType::kF32, Shape(dims), rng);
    }
    Tensor joined = ops::Concat(pieces, axis);
    const int64_t total = joined.shape()[a];
    std::vector<Tensor> outputs = {joined};
    if (total > 1) {
      for (const Tensor& piece : ops::Split(joined, {1 + random_below(total - 1), -1}, axis)) {
        outputs.push_back(piece);
      }
    }
    std::vector<int64_t> begin, size, paddings;
    for (int64_t d : pieces[0].shape().dims()) {
      begin.push_back(random_below(d));
      size.push_back(rng() % 2 ? -1 : 1 + random_below(d - begin.back()));
    }
    for (int d = 0; d < joined.rank(); ++d) {
      paddings.push_back(rng() % 3);
      paddings.push_back(rng() % 3);
    }
    outputs.push_back(ops::Slice(pieces[0], begin, size));
    outputs.push_back(ops::Pad(joined, paddings, -1.5 * trial));
    INFO("Concat/Split/Slice/Pad trial " << trial << " axis " << axis);
    Compare(g, outputs, feeds, kExact);
  }
  for (int trial = 0; trial < 3; ++trial) {
    // Gather rows, and ScatterAdd with more positions than rows (repeated indices accumulate).
    Graph g;
    Shape params_shape = RandomShape(rng, 1, 3, 4);
    Shape index_shape = RandomShape(rng, 0, 2, 4);
    const int64_t rows = params_shape[0];
    std::vector<int64_t> update_dims = index_shape.dims();
    update_dims.insert(update_dims.end(), params_shape.dims().begin() + 1,
                       params_shape.dims().end());
    const DType index_dtype = trial % 2 ? DType::kI32 : DType::kI64;
    Tensor params = ops::Placeholder(g, "params", DType::kF32, params_shape);
    Tensor indices = ops::Placeholder(g, "indices", index_dtype, index_shape);
    Tensor updates = ops::Placeholder(g, "updates", DType::kF32, Shape(update_dims));
    INFO("Gather/ScatterAdd " << params_shape.ToString() << " indices " << index_shape.ToString());
    Compare(g, {ops::Gather(params, indices), ops::ScatterAdd(indices, updates, params_shape)},
            {{"params", RandomLiteral(DType::kF32, params_shape, rng)},
             {"indices", RandomInts(index_dtype, index_shape, rng, 0, rows - 1)},
             {"updates", RandomLiteral(DType::kF32, Shape(update_dims), rng)}},
            kExact);
  }
}

TEST_CASE("Compiled code reports an out-of-range index or label as the call's status") {
  Graph g;
  Tensor params = ops::Placeholder(g, "params", DType::kF32, Shape({3, 2}));
  Tensor indices = ops::Placeholder(g, "indices", DType::kI32, Shape({2, 2}));
  Tensor updates = ops::Placeholder(g, "updates", DType::kF32, Shape({2, 2, 2}));
  Tensor logits = ops::Placeholder(g, "logits", DType::kF32, Shape({3, 4}));
  Tensor labels = ops::Placeholder(g, "labels", DType::kI64, Shape({3}));
  Tensor gathered = ops::Gather(params, indices);
  Tensor scattered = ops::ScatterAdd(indices, updates, Shape({3, 2}));
  Tensor loss = ops::SparseSoftmaxCrossEntropy(logits, labels);
  auto jit = JitGraph::Compile(g, {gathered, scattered, loss});
  REQUIRE_THAT(jit.status(), IsOk());
  auto feeds = [](std::vector<double> index_values, std::vector<double> label_values) {
    return Feeds{{"params", Literal(DType::kF32, {3, 2}, {1, 2, 3, 4, 5, 6})},
                 {"indices", Literal(DType::kI32, {2, 2}, index_values)},
                 {"updates", Literal(DType::kF32, {2, 2, 2}, std::vector<double>(8, 1.0))},
                 {"logits", Literal(DType::kF32, {3, 4}, std::vector<double>(12, 0.5))},
                 {"labels", Literal(DType::kI64, {3}, label_values)}};
  };
  REQUIRE_THAT((*jit)->Run(feeds({0, 1, 2, 0}, {0, 3, 1})).status(), IsOk());
  // The first bad element of each operand is reported; the first report wins.
  REQUIRE_THAT((*jit)->Run(feeds({0, 1, 2, 3}, {0, 3, 1})).status(),
               StatusIs(absl::StatusCode::kOutOfRange, "Gather 'Gather' (compiled_ops_test.cc:"));
  auto status = (*jit)->Run(feeds({0, 1, 2, 3}, {0, 3, 1})).status();
  REQUIRE_THAT(status, StatusIs(absl::StatusCode::kOutOfRange,
                                "): index 3 at flat position 3 is out of range [0, 3)"));
  REQUIRE_THAT((*jit)->Run(feeds({-1, 1, 2, 0}, {0, 3, 1})).status(),
               StatusIs(absl::StatusCode::kOutOfRange,
                        "index -1 at flat position 0 is out of range [0, 3)"));
  REQUIRE_THAT(
      (*jit)->Run(feeds({0, 1, 2, 0}, {0, 4, -2})).status(),
      StatusIs(absl::StatusCode::kOutOfRange,
               "SparseSoftmaxCrossEntropy 'SparseSoftmaxCrossEntropy' (compiled_ops_test.cc:"));
  REQUIRE_THAT(
      (*jit)->Run(feeds({0, 1, 2, 0}, {0, 4, -2})).status(),
      StatusIs(absl::StatusCode::kOutOfRange, "label 4 at flat position 1 is out of range [0, 4)"));
  // The status belongs to one call: the next good call is OK again.
  REQUIRE_THAT((*jit)->Run(feeds({2, 2, 2, 2}, {3, 3, 3})).status(), IsOk());
}

TEST_CASE("Compiled BatchMatMul broadcasts batch dims like the interpreter") {
  std::mt19937_64 rng(28);
  for (int trial = 0; trial < 6; ++trial) {
    Graph g;
    Shape batch = RandomShape(rng, 0, 2, 3);
    Shape other = RandomBroadcastableShape(batch, rng);
    const int64_t m = 1 + rng() % 4, k = 1 + rng() % 4, n = 1 + rng() % 4;
    const bool ta = trial & 1, tb = trial & 2;
    auto with = [](Shape b, int64_t r, int64_t c) {
      std::vector<int64_t> dims = b.dims();
      dims.push_back(r);
      dims.push_back(c);
      return Shape(dims);
    };
    Shape sa = with(trial % 3 ? batch : other, ta ? k : m, ta ? m : k);
    Shape sb = with(trial % 3 ? other : batch, tb ? n : k, tb ? k : n);
    Tensor a = ops::Placeholder(g, "a", DType::kF32, sa);
    Tensor b = ops::Placeholder(g, "b", DType::kF32, sb);
    INFO("BatchMatMul " << sa.ToString() << " x " << sb.ToString() << " ta " << ta << " tb " << tb);
    Compare(
        g, {ops::BatchMatMul(a, b, ta, tb)},
        {{"a", RandomLiteral(DType::kF32, sa, rng)}, {"b", RandomLiteral(DType::kF32, sb, rng)}},
        kExact);
  }
}

TEST_CASE("Compiled convolutions and their backprops match the interpreter") {
  struct Config {
    int64_t n, h, w, c, kh, kw, o;
    ops::Conv2DOptions options;
  };
  auto options = [](std::vector<int64_t> strides, std::vector<int64_t> dilations,
                    std::string padding, std::vector<int64_t> explicit_padding = {}) {
    ops::Conv2DOptions o;
    o.strides = std::move(strides);
    o.dilations = std::move(dilations);
    o.padding = std::move(padding);
    o.explicit_padding = std::move(explicit_padding);
    return o;
  };
  std::vector<Config> configs = {
      {2, 5, 6, 3, 3, 3, 2, options({1, 1}, {1, 1}, "VALID")},
      {1, 6, 7, 2, 3, 2, 3, options({2, 2}, {1, 1}, "SAME")},
      {1, 7, 5, 2, 2, 3, 2, options({2, 3}, {2, 1}, "SAME")},
      // Input past the last window (8 rows, windows of 2 every 3), and 1x1 windows.
      {1, 8, 4, 1, 2, 1, 2, options({3, 1}, {1, 1}, "VALID")},
      // Padding larger than the dilated window on one side: BackpropInput crops its gradient.
      {1, 4, 5, 2, 1, 2, 2, options({2, 1}, {1, 2}, "EXPLICIT", {3, 0, 1, 4})},
  };
  std::mt19937_64 rng(29);
  const char* paddings[] = {"VALID", "SAME", "EXPLICIT"};
  while (configs.size() < 12) {
    Config c{1 + static_cast<int64_t>(rng() % 2), 1 + static_cast<int64_t>(rng() % 7),
             1 + static_cast<int64_t>(rng() % 7), 1 + static_cast<int64_t>(rng() % 3),
             1 + static_cast<int64_t>(rng() % 3), 1 + static_cast<int64_t>(rng() % 3),
             1 + static_cast<int64_t>(rng() % 3), ops::Conv2DOptions()};
    const std::string padding = paddings[rng() % 3];
    std::vector<int64_t> explicit_padding;
    if (padding == "EXPLICIT") {
      for (int i = 0; i < 4; ++i) explicit_padding.push_back(rng() % 3);
    }
    c.options = options({1 + static_cast<int64_t>(rng() % 3), 1 + static_cast<int64_t>(rng() % 3)},
                        {1 + static_cast<int64_t>(rng() % 2), 1 + static_cast<int64_t>(rng() % 2)},
                        padding, explicit_padding);
    Graph probe;
    Tensor x = ops::Placeholder(probe, "x", DType::kF32, {c.n, c.h, c.w, c.c});
    Tensor f = ops::Placeholder(probe, "f", DType::kF32, {c.kh, c.kw, c.c, c.o});
    if (ops::Conv2D(x, f, c.options).valid()) configs.push_back(c);
  }
  for (const Config& c : configs) {
    Graph g;
    Shape xs({c.n, c.h, c.w, c.c}), fs({c.kh, c.kw, c.c, c.o});
    Tensor x = ops::Placeholder(g, "x", DType::kF32, xs);
    Tensor f = ops::Placeholder(g, "f", DType::kF32, fs);
    Tensor y = ops::Conv2D(x, f, c.options);
    REQUIRE_THAT(g.status(), IsOk());
    Tensor dy = ops::Placeholder(g, "dy", DType::kF32, y.shape());
    INFO("Conv2D x " << xs.ToString() << " f " << fs.ToString() << " " << c.options.padding
                     << " strides " << c.options.strides[0] << "," << c.options.strides[1]
                     << " dilations " << c.options.dilations[0] << "," << c.options.dilations[1]);
    const Feeds feeds = {{"x", RandomLiteral(DType::kF32, xs, rng)},
                         {"f", RandomLiteral(DType::kF32, fs, rng)},
                         {"dy", RandomLiteral(DType::kF32, y.shape(), rng)}};
    // One output per compiled function: see the note on multiple outputs at the top.
    for (const Tensor& out : {y, ops::Conv2DBackpropInput(dy, f, xs, c.options),
                              ops::Conv2DBackpropFilter(x, dy, fs, c.options)}) {
      INFO(g.node(out.node()).op_name());
      Compare(g, {out}, feeds, kExact);
    }
  }
}

TEST_CASE("Compiled pools and their gradients match the interpreter") {
  struct Config {
    Shape shape;
    ops::Pool2DOptions options;
  };
  auto options = [](std::vector<int64_t> ksize, std::vector<int64_t> strides, std::string padding) {
    ops::Pool2DOptions o;
    o.ksize = std::move(ksize);
    o.strides = std::move(strides);
    o.padding = std::move(padding);
    return o;
  };
  std::vector<Config> configs = {
      {Shape({2, 4, 6, 3}), options({2, 2}, {2, 2}, "VALID")},
      {Shape({1, 5, 7, 2}), options({3, 3}, {2, 2}, "SAME")},
      {Shape({1, 4, 5, 2}), options({3, 2}, {1, 1}, "SAME")},
      {Shape({1, 7, 5, 1}), options({2, 3}, {3, 2}, "SAME")},
      {Shape({1, 5, 5, 2}), options({3, 1}, {1, 2}, "VALID")},
  };
  std::mt19937_64 rng(30);
  while (configs.size() < 9) {
    auto draw = [&rng](int64_t n) { return 1 + static_cast<int64_t>(rng() % n); };
    Config c{Shape({draw(2), draw(6), draw(6), draw(2)}),
             options({draw(3), draw(3)}, {draw(3), draw(3)}, rng() % 2 ? "SAME" : "VALID")};
    Graph probe;
    if (ops::MaxPool2D(ops::Placeholder(probe, "x", DType::kF32, c.shape), c.options).valid()) {
      configs.push_back(c);
    }
  }
  for (const Config& c : configs) {
    Graph g;
    Tensor x = ops::Placeholder(g, "x", DType::kF32, c.shape);
    Tensor pooled = ops::MaxPool2D(x, c.options);
    Tensor dy = ops::Placeholder(g, "dy", DType::kF32, pooled.shape());
    INFO("pools " << c.shape.ToString() << " " << c.options.padding << " ksize "
                  << c.options.ksize[0] << "," << c.options.ksize[1] << " strides "
                  << c.options.strides[0] << "," << c.options.strides[1]);
    // Tied inputs: MaxPool2DGrad must route each window's gradient to its first maximum only.
    const Feeds feeds = {{"x", RandomTies(c.shape, rng)},
                         {"dy", RandomLiteral(DType::kF32, pooled.shape(), rng)}};
    for (const Tensor& out :
         {pooled, ops::AvgPool2D(x, c.options), ops::MaxPool2DGrad(x, dy, c.options),
          ops::AvgPool2DGrad(dy, c.shape, c.options)}) {
      INFO(g.node(out.node()).op_name());
      Compare(g, {out}, feeds, kExact);
    }
  }
}

TEST_CASE("Compiled random ops reproduce the interpreter's samples") {
  std::mt19937_64 rng(31);
  for (bool normal : {false, true}) {
    for (int trial = 0; trial < 3; ++trial) {
      Graph g;
      Shape shape = RandomShape(rng, 0, 3, 6);
      const int64_t seed = static_cast<int64_t>(rng());  // all 64 bits, negative half the time
      const DType dtype = trial == 2 ? DType::kF64 : DType::kF32;
      Tensor counter = ops::Placeholder(g, "counter", DType::kI64, {});
      Tensor y = normal ? ops::RandomNormal(g, shape, seed, 0.5, 2.0, dtype, counter)
                        : ops::RandomUniform(g, shape, seed, -1.0, 3.0, dtype, counter);
      INFO((normal ? "RandomNormal " : "RandomUniform ") << shape.ToString() << " seed " << seed);
      Compare(g, {y}, {{"counter", RandomInts(DType::kI64, {}, rng, 0, 1 << 30)}},
              normal ? kTranscendental : kExact);
    }
  }
}

TEST_CASE("Compiled MLP and CNN training gradients match the interpreter") {
  std::mt19937_64 rng(32);
  {
    INFO("MLP");
    Graph g;
    layers::Model model(g, 5);
    Tensor x = ops::Placeholder(g, "x", DType::kF32, {8, 12});
    Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {8});
    Tensor h = model.Dense(x, 16, layers::Activation::kRelu);
    Tensor logits = model.Dense(h, 5);
    Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
    auto grads = AddGradients(loss, model.parameters());
    REQUIRE_THAT(grads.status(), IsOk());
    std::vector<Tensor> outputs = {loss, metrics::Accuracy(logits, labels)};
    outputs.insert(outputs.end(), grads->begin(), grads->end());
    Compare(g, outputs,
            {{"x", RandomLiteral(DType::kF32, {8, 12}, rng)},
             {"labels", RandomInts(DType::kI32, {8}, rng, 0, 4)}},
            kTranscendental);
  }
  {
    INFO("CNN");
    Graph g;
    layers::Model model(g, 6);
    Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 6, 6, 2});
    Tensor labels = ops::Placeholder(g, "labels", DType::kF32, {2, 3});
    ops::Conv2DOptions same;
    same.padding = "SAME";
    Tensor h = model.Conv2D(x, 4, 3, 3, same, layers::Activation::kRelu);
    h = model.MaxPool2D(h);
    Tensor logits = model.Dense(model.Flatten(h), 3);
    Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
    auto grads = AddGradients(loss, model.parameters());
    REQUIRE_THAT(grads.status(), IsOk());
    std::vector<Tensor> outputs = {loss};
    outputs.insert(outputs.end(), grads->begin(), grads->end());
    Compare(g, outputs,
            {{"x", RandomLiteral(DType::kF32, {2, 6, 6, 2}, rng)},
             {"labels", RandomLiteral(DType::kF32, {2, 3}, rng, 0, 1)}},
            kTranscendental);
  }
}

// An op of this test only, registered without a lowering.
KILN_REGISTER_OP(OpDef("TestOpWithoutLowering")
                     .Doc("x, with no lowering")
                     .Inputs({"x"})
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       return std::vector<TensorType>{c.inputs[0]};
                     })
                     .NotDifferentiable("a test op")
                     .Kernel([](KernelContext& c) {
                       c.out().values = c.in(0).values;
                       return absl::OkStatus();
                     }));

// A bias add right after a MatMul or Conv2D (and a ReLU right after that add) is computed by the
// library call itself (oneDNN bias + post-op) when nothing else reads the intermediate values.
TEST_CASE("Bias adds and ReLUs after MatMul and Conv2D fuse into the library call") {
  Graph g;
  std::mt19937_64 rng(31);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {5, 7});
  Tensor w = ops::Placeholder(g, "w", DType::kF32, {7, 9});
  Tensor wt = ops::Placeholder(g, "wt", DType::kF32, {9, 7});
  Tensor b = ops::Placeholder(g, "b", DType::kF32, {9});
  Tensor img = ops::Placeholder(g, "img", DType::kF32, {2, 6, 6, 3});
  Tensor f = ops::Placeholder(g, "f", DType::kF32, {3, 3, 3, 4});
  Tensor cb = ops::Placeholder(g, "cb", DType::kF32, {4});
  ops::Conv2DOptions same;
  same.padding = "SAME";
  std::vector<Tensor> outputs = {
      ops::Relu(ops::Add(ops::MatMul(x, w), b)),           // matmul + bias + ReLU
      ops::Add(b, ops::MatMul(x, wt, false, true)),        // bias first, transposed weights
      ops::Relu(ops::Add(ops::Conv2D(img, f, same), cb)),  // conv + bias + ReLU
  };
  Tensor shared = ops::MatMul(x, w);  // read twice: stays a plain matmul
  outputs.push_back(ops::Add(shared, b));
  outputs.push_back(shared * shared);
  Tensor late = ops::MatMul(x, w);
  Tensor b_late =
      ops::Placeholder(g, "b_late", DType::kF32, {9});  // made after the product: not fused
  outputs.push_back(ops::Add(late, b_late));
  Tensor conv_sum =
      ops::Add(ops::Conv2D(img, f), cb);  // the sum is an output too: bias fused, ReLU not
  outputs.push_back(conv_sum);
  outputs.push_back(ops::Relu(conv_sum));
  Feeds feeds;
  for (const char* name : {"x", "w", "wt", "b", "img", "f", "cb", "b_late"}) {
    const Node* node = g.FindNode(name);
    feeds[name] = RandomLiteral(DType::kF32, node->outputs[0].shape, rng);
  }
  Compare(g, outputs, feeds, kExact);

  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  auto module = LowerGraph(g, outputs, "f", context, nullptr, DefaultTarget());
  REQUIRE_THAT(module.status(), IsOk());
  std::string text;
  llvm::raw_string_ostream os(text);
  (*module)->print(os);
  auto count = [&](const std::string& needle) {
    int n = 0;
    for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1))
      ++n;
    return n;
  };
  CHECK(count("kiln.library_hook = \"kiln_rt_dnnl_matmul_bias\"") == 2);
  CHECK(count("kiln.library_hook = \"kiln_rt_dnnl_matmul\"") == 2);
  CHECK(count("kiln.library_hook = \"kiln_rt_dnnl_conv2d_bias\"") == 2);
  CHECK(count("kiln.library_hook = \"kiln_rt_dnnl_conv2d\"") == 0);
  CHECK(count("arith.cmpf ogt") == 1);  // the one ReLU left as code
}

TEST_CASE("An op without a lowering is reported with its name and line") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3});
  const int line = __LINE__ + 1;
  Tensor y = g.Output(g.AddNode("TestOpWithoutLowering", {x}, {}, SourceLoc::Current()));
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  REQUIRE_THAT(LowerGraph(g, {y}, "f", context, nullptr, DefaultTarget()).status(),
               StatusIs(absl::StatusCode::kUnimplemented,
                        "TestOpWithoutLowering 'TestOpWithoutLowering' (compiled_ops_test.cc:" +
                            std::to_string(line) + "): no lowering for the x86_64 target yet"));
}

TEST_CASE("Placeholders and Variables are never lowered as nodes") {
  Graph g;
  const int line = __LINE__ + 1;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2});
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::OpBuilder b(&context);
  REQUIRE_THAT(LowerNode(b, g.node(x.node()), {}, {}, mlir::Value(), DefaultTarget()).status(),
               StatusIs(absl::StatusCode::kInternal,
                        "Placeholder 'x' (compiled_ops_test.cc:" + std::to_string(line) +
                            ") is bound by LowerGraph as a function argument"));
}

}  // namespace
}  // namespace kiln
