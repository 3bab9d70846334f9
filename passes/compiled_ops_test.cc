// Compiled code against the reference interpreter: each lowered op, on random shapes and values, and a
// small MLP forward pass, built by LowerGraph, compiled by CompileTensorsToLlvmDialect and run in
// process by MLIR's JIT (the AOT path emits the same LLVM module as an object).
#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "catch2/catch.hpp"
#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/status_macros.h"
#include "llvm/Support/TargetSelect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "passes/graph_lowering.h"
#include "passes/pipeline.h"
#include "test/status_matchers.h"

namespace kiln {
namespace {

// Element storage in the dtype's machine representation (bool as one byte).
std::vector<char> Pack(const Literal& l) {
  std::vector<char> bytes(l.size() * DTypeSize(l.dtype));
  for (int64_t i = 0; i < l.size(); ++i) {
    const double v = l.values[i];
    char* p = bytes.data() + i * DTypeSize(l.dtype);
    switch (l.dtype) {
      case DType::kF32: { float f = static_cast<float>(v); std::memcpy(p, &f, 4); break; }
      case DType::kF64: std::memcpy(p, &v, 8); break;
      case DType::kI32: { int32_t x = static_cast<int32_t>(v); std::memcpy(p, &x, 4); break; }
      case DType::kI64: { int64_t x = static_cast<int64_t>(v); std::memcpy(p, &x, 8); break; }
      case DType::kI8: case DType::kBool: { int8_t x = static_cast<int8_t>(v); std::memcpy(p, &x, 1); break; }
      default: FAIL("dtype not supported by this test");
    }
  }
  return bytes;
}

Literal Unpack(const std::vector<char>& bytes, const TensorType& type) {
  Literal l(type.dtype, type.shape);
  for (int64_t i = 0; i < l.size(); ++i) {
    const char* p = bytes.data() + i * DTypeSize(type.dtype);
    switch (type.dtype) {
      case DType::kF32: { float f; std::memcpy(&f, p, 4); l.values[i] = f; break; }
      case DType::kF64: std::memcpy(&l.values[i], p, 8); break;
      case DType::kI32: { int32_t x; std::memcpy(&x, p, 4); l.values[i] = x; break; }
      case DType::kI64: { int64_t x; std::memcpy(&x, p, 8); l.values[i] = static_cast<double>(x); break; }
      case DType::kI8: { int8_t x; std::memcpy(&x, p, 1); l.values[i] = x; break; }
      case DType::kBool: { uint8_t x; std::memcpy(&x, p, 1); l.values[i] = x & 1; break; }
      default: FAIL("dtype not supported by this test");
    }
  }
  return l;
}

// Compiles `outputs` and runs them once with `feeds` and the variables' initial values.
absl::StatusOr<std::vector<Literal>> CompileAndRun(const Graph& g, const std::vector<Tensor>& outputs,
                                                   const Feeds& feeds) {
  static const bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  LoweredSignature sig;
  KILN_ASSIGN_OR_RETURN(mlir::OwningOpRef<mlir::ModuleOp> module, LowerGraph(g, outputs, "graph", context, &sig));
  KILN_RETURN_IF_ERROR(CompileTensorsToLlvmDialect(*module));
  auto engine = mlir::ExecutionEngine::create(*module);
  if (!engine) return absl::InternalError("JIT failed: " + llvm::toString(engine.takeError()));

  KILN_ASSIGN_OR_RETURN(Interpreter interpreter, Interpreter::Create(g));
  std::vector<std::vector<char>> buffers;
  for (int id : sig.placeholders) buffers.push_back(Pack(feeds.at(g.node(id).name)));
  for (int id : sig.variables) buffers.push_back(Pack(interpreter.variables().at(g.node(id).name)));
  for (const Tensor& t : outputs) buffers.emplace_back(t.shape().NumElements() * DTypeSize(t.dtype()));
  std::vector<void*> pointers;
  for (auto& b : buffers) pointers.push_back(b.data());
  std::vector<void*> args;
  for (void*& p : pointers) args.push_back(&p);
  if (llvm::Error e = (*engine)->invokePacked("graph", args)) {
    return absl::InternalError("invoke failed: " + llvm::toString(std::move(e)));
  }
  std::vector<Literal> results;
  const size_t first_output = sig.placeholders.size() + sig.variables.size();
  for (size_t i = 0; i < outputs.size(); ++i) results.push_back(Unpack(buffers[first_output + i], outputs[i].type()));
  return results;
}

// Runs `outputs` both ways and requires |compiled - reference| <= tolerance * max(1, |reference|).
void Compare(const Graph& g, const std::vector<Tensor>& outputs, const Feeds& feeds, double tolerance) {
  REQUIRE_THAT(g.status(), IsOk());
  auto compiled = CompileAndRun(g, outputs, feeds);
  REQUIRE_THAT(compiled.status(), IsOk());
  auto interpreter = Interpreter::Create(g);
  auto reference = interpreter->Run(feeds, outputs);
  REQUIRE_THAT(reference.status(), IsOk());
  for (size_t k = 0; k < outputs.size(); ++k) {
    const Literal& c = (*compiled)[k];
    const Literal& r = (*reference)[k];
    for (int64_t i = 0; i < r.size(); ++i) {
      INFO("output " << k << " element " << i << ": compiled " << c.values[i] << ", interpreter " << r.values[i]);
      REQUIRE(std::fabs(c.values[i] - r.values[i]) <= tolerance * std::max(1.0, std::fabs(r.values[i])));
    }
  }
}

constexpr double kExact = 1e-5, kTranscendental = 1e-4;

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
      Compare(g, {c.build(x)}, {{"x", RandomLiteral(DType::kF32, shape, rng, c.lo, c.hi)}}, c.tolerance);
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
      {"LogicalAnd", [](Tensor a, Tensor b) {
         return ops::LogicalAnd(ops::Less(a, b), ops::LogicalNot(ops::Greater(a, a * 0.0)));
       }, -3, 3},
      {"Select", [](Tensor a, Tensor b) { return ops::Select(ops::Less(a, b), a, b * 2.0); }, -3, 3},
      {"BroadcastTo", [](Tensor a, Tensor b) {
         return ops::BroadcastTo(a, BroadcastShapes(a.shape(), b.shape()).value());
       }, -3, 3},
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
  for (Reducer reduce : {static_cast<Reducer>(ops::ReduceSum), static_cast<Reducer>(ops::ReduceMean),
                         static_cast<Reducer>(ops::ReduceMax), static_cast<Reducer>(ops::ReduceMin),
                         static_cast<Reducer>(ops::ReduceProd)}) {
    for (int trial = 0; trial < 4; ++trial) {
      Graph g;
      Shape shape = RandomShape(rng, 1, 3, 4);
      std::vector<int64_t> axes;
      for (int d = 0; d < shape.rank(); ++d) if (rng() % 2) axes.push_back(d);
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
    Compare(g, {ops::MatMul(a, b, ta, tb)},
            {{"a", RandomLiteral(DType::kF32, sa, rng)}, {"b", RandomLiteral(DType::kF32, sb, rng)}}, kExact);
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

TEST_CASE("An op without a lowering is reported with its name and line") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3});
  const int line = __LINE__ + 1;
  Tensor y = ops::Softmax(x);
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  REQUIRE_THAT(LowerGraph(g, {y}, "f", context, nullptr).status(),
               StatusIs(absl::StatusCode::kUnimplemented,
                        "Softmax 'Softmax' (compiled_ops_test.cc:" + std::to_string(line) +
                            "): no lowering for the CPU target yet"));
}

}  // namespace
}  // namespace kiln
