// Effects (OpDef::Effects) through the interpreter, LowerGraph, the CPU pipeline and compiled code:
// an effectful node is never merged with an identical one, never dropped when its result is unused,
// and never moved across another effectful node.
#include <string>
#include <utility>
#include <vector>

#include "catch2/catch.hpp"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "passes/graph_lowering.h"
#include "passes/pipeline.h"
#include "runtime/kiln_runtime.h"
#include "testing/jit_runner.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

constexpr int kSize = 4;  // every TestEffect operand is f32[kSize]

// Each effect as it happens, interpreted or compiled: the C function's name and x[0].
std::vector<std::pair<std::string, double>>& Log() {
  static auto* log = new std::vector<std::pair<std::string, double>>();
  return *log;
}

extern "C" void test_effect(kiln_context*, const float* x, float* y) {
  Log().emplace_back("test_effect", x[0]);
  for (int i = 0; i < kSize; ++i) y[i] = x[i];
}

extern "C" void test_effect_b(kiln_context*, const float* x, float* y) {
  Log().emplace_back("test_effect_b", x[0]);
  for (int i = 0; i < kSize; ++i) y[i] = x[i];
}

// Test only: y = x, calling the C function `function` with x (its effect: a line in the log).
KILN_REGISTER_OP(OpDef("TestEffect")
                     .Doc("test only: x, logged by an external function")
                     .Inputs({"x"})
                     .Attr("function", AttrType::kString, std::string("test_effect"))
                     .Shape(ops_internal::SameAsInput())
                     .NotDifferentiable("test only")
                     .Effects("appends to the test's log")
                     .Lower([](LoweringContext& c) {
                       c.SetOutput(0, c.ExternalCall(c.node().attr<std::string>("function"),
                                                     {c.input(0)}, c.node().outputs[0]));
                       return absl::OkStatus();
                     })
                     .Kernel([](KernelContext& c) {
                       Log().emplace_back(c.attr<std::string>("function"), c.in(0).values[0]);
                       c.out().values = c.in(0).values;
                       return absl::OkStatus();
                     }));

// Test only: declares an effect but lowers to pure code, which the passes would drop.
KILN_REGISTER_OP(OpDef("TestPureEffect")
                     .Doc("test only: x, with an effect its lowering loses")
                     .Inputs({"x"})
                     .Shape(ops_internal::SameAsInput())
                     .NotDifferentiable("test only")
                     .Effects("none, by mistake")
                     .Lower(ElementwiseLowering([](ScalarBuilder&, const std::vector<IrValue>& x) {
                       return x[0];
                     }))
                     .Kernel([](KernelContext& c) {
                       c.out().values = c.in(0).values;
                       return absl::OkStatus();
                     }));

Tensor Effect(Tensor x, const std::string& function = "test_effect") {
  return ops_internal::AddOp1("TestEffect", {x}, {{"function", function}}, SourceLoc::Current());
}

using Logged = std::vector<std::pair<std::string, double>>;

Feeds XFeed() { return {{"x", Literal(DType::kF32, {kSize}, {1, 2, 3, 4})}}; }

// The effects of one interpreter run.
Logged Interpret(const Graph& g, const std::vector<Tensor>& fetches,
                 std::vector<Literal>* results = nullptr) {
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  Log().clear();
  auto out = interpreter->Run(XFeed(), fetches);
  REQUIRE_THAT(out.status(), IsOk());
  if (results != nullptr) *results = *out;
  return Log();
}

// The effects of one run of the compiled graph.
Logged RunCompiled(const Graph& g, const std::vector<Tensor>& outputs,
                   std::vector<Literal>* results = nullptr) {
  AddJitFunction("test_effect", reinterpret_cast<void*>(&test_effect));
  AddJitFunction("test_effect_b", reinterpret_cast<void*>(&test_effect_b));
  auto jit = JitGraph::Compile(g, outputs);
  REQUIRE_THAT(jit.status(), IsOk());
  Log().clear();
  auto out = (*jit)->Run(XFeed());
  REQUIRE_THAT(out.status(), IsOk());
  if (results != nullptr) *results = *out;
  return Log();
}

// The external functions that `graph` calls, in order: as LowerGraph emits it (each call goes
// through a site declaration naming the function) and, with `pipeline`, after the CPU pipeline, in
// the LLVM dialect.
std::vector<std::string> ExternalCalls(const Graph& g, const std::vector<Tensor>& outputs,
                                       bool pipeline) {
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  auto module = LowerGraph(g, outputs, "graph", context, nullptr, DefaultTarget());
  REQUIRE_THAT(module.status(), IsOk());
  std::vector<std::string> calls;
  if (!pipeline) {
    (*module)->walk([&](mlir::func::CallOp call) {
      auto site = (*module)->lookupSymbol<mlir::func::FuncOp>(call.getCallee());
      auto hook = site ? site->getAttrOfType<mlir::StringAttr>("kiln.library_hook") : nullptr;
      if (site && site->hasAttr("kiln.effect") && hook) calls.push_back(hook.getValue().str());
    });
    return calls;
  }
  REQUIRE_THAT(CompileTensorsToLlvmDialect(**module, DefaultTarget()), IsOk());
  (*module)->walk([&](mlir::LLVM::CallOp call) {
    std::optional<llvm::StringRef> callee = call.getCallee();
    if (callee && callee->starts_with("test_effect")) calls.push_back(callee->str());
  });
  return calls;
}

TEST_CASE("TestEffect has the effects trait") {
  const OpDef* def = OpRegistry::Find("TestEffect");
  REQUIRE(def != nullptr);
  CHECK(def->has_effects());
  CHECK_FALSE(def->is_argument());
  CHECK_FALSE(def->is_stateful());
}

TEST_CASE("Two identical effectful nodes both happen") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {kSize});
  Tensor y =
      Effect(x) + Effect(x);  // the same op on the same input: a pure op would be computed once
  REQUIRE_THAT(g.status(), IsOk());
  const Logged twice = {{"test_effect", 1}, {"test_effect", 1}};
  std::vector<Literal> results;
  CHECK(Interpret(g, {y}, &results) == twice);
  CHECK(results[0].values == std::vector<double>{2, 4, 6, 8});
  CHECK(ExternalCalls(g, {y}, /*pipeline=*/false) ==
        std::vector<std::string>{"test_effect", "test_effect"});
  CHECK(ExternalCalls(g, {y}, /*pipeline=*/true) ==
        std::vector<std::string>{"test_effect", "test_effect"});
  CHECK(RunCompiled(g, {y}, &results) == twice);
  CHECK(results[0].values == std::vector<double>{2, 4, 6, 8});
}

TEST_CASE("An effectful node whose result is unused still happens, with what it needs") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {kSize});
  Effect(x * 5.0);  // nothing reads it, and only it needs x * 5
  Tensor y = x * 3.0;
  REQUIRE_THAT(g.status(), IsOk());
  const Logged once = {{"test_effect", 5}};
  std::vector<Literal> results;
  CHECK(Interpret(g, {y}, &results) == once);
  CHECK(results[0].values == std::vector<double>{3, 6, 9, 12});
  CHECK(ExternalCalls(g, {y}, /*pipeline=*/false) == std::vector<std::string>{"test_effect"});
  CHECK(ExternalCalls(g, {y}, /*pipeline=*/true) == std::vector<std::string>{"test_effect"});
  CHECK(RunCompiled(g, {y}, &results) == once);
  CHECK(results[0].values == std::vector<double>{3, 6, 9, 12});
}

TEST_CASE("Effectful nodes happen in graph order, whichever of them the outputs need") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {kSize});
  Effect(x, "test_effect");                     // unused
  Tensor b = Effect(x * 2.0, "test_effect_b");  // the output needs it
  Effect(x * 3.0, "test_effect");               // unused, after b
  Tensor y = b + 1.0;
  REQUIRE_THAT(g.status(), IsOk());
  const Logged in_order = {{"test_effect", 1}, {"test_effect_b", 2}, {"test_effect", 3}};
  const std::vector<std::string> names = {"test_effect", "test_effect_b", "test_effect"};
  std::vector<Literal> results;
  CHECK(Interpret(g, {y}, &results) == in_order);
  CHECK(results[0].values == std::vector<double>{3, 5, 7, 9});
  CHECK(ExternalCalls(g, {y}, /*pipeline=*/false) == names);
  CHECK(ExternalCalls(g, {y}, /*pipeline=*/true) == names);
  CHECK(RunCompiled(g, {y}, &results) == in_order);
  CHECK(results[0].values == std::vector<double>{3, 5, 7, 9});
}

TEST_CASE("An effectful op whose lowering calls nothing is a compiler error") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {kSize});
  Tensor y = ops_internal::AddOp1("TestPureEffect", {x}, {}, SourceLoc::Current());
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  CHECK_THAT(
      LowerGraph(g, {y}, "graph", context, nullptr, DefaultTarget()).status(),
      StatusIs(absl::StatusCode::kInternal,
               "has effects (none, by mistake) but its lowering calls no external function"));
}

}  // namespace
}  // namespace kiln
