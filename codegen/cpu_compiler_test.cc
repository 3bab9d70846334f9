#include "codegen/cpu_compiler.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "catch2/catch.hpp"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "test/status_matchers.h"

namespace kiln {
namespace {

// An op with every facet but a lowering, to test the compiler's error.
KILN_REGISTER_OP(OpDef("TestUnlowered").Doc("test only: x, with no lowering").Inputs({"x"})
    .Shape(ops_internal::SameAsInput()).NotDifferentiable("test only")
    .Kernel([](KernelContext& c) {
      c.out().values = c.in(0).values;
      return absl::OkStatus();
    }));

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST_CASE("The generated header matches the golden file") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3});
  Tensor ids = ops::Placeholder(g, "token ids", DType::kI32, {2});
  Tensor w = ops::Variable(g, "layer/w", DType::kF32, {3, 4}, ops::Initializer::Constant(0.5));
  g.AddOutput("y", ops::MatMul(x, w));
  g.AddOutput("id_sum", ops::ReduceSum(ids));
  CompileOptions options;
  options.name = "tiny_model";
  options.source = "tiny.pb";
  auto compiled = CompileGraph(g, options);
  REQUIRE_THAT(compiled.status(), IsOk());
  REQUIRE_FALSE(compiled->training);
  REQUIRE(compiled->object.compare(0, 4, "\x7f" "ELF") == 0);
  REQUIRE(compiled->object.find("kiln_tiny_model_run") != std::string::npos);
  REQUIRE(compiled->object.find("kiln_tiny_model_init") != std::string::npos);
  REQUIRE(compiled->object.find("kiln_tiny_model_prepare") != std::string::npos);
  const std::string golden = ReadFile("codegen/testdata/tiny_model.h");
  if (compiled->header != golden) {
    if (const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR")) {
      std::ofstream(std::string(dir) + "/tiny_model.h") << compiled->header;
    }
    FAIL("header differs from codegen/testdata/tiny_model.h; the new one is in "
         "bazel-testlogs/codegen/cpu_compiler_test/test.outputs/ (copy it over if the change is "
         "intended)\n" << compiled->header);
  }
}

TEST_CASE("CompileGraph reports bad names, missing outputs and ops without a lowering") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2});
  CompileOptions options;
  REQUIRE_THAT(CompileGraph(g, options).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "the graph has no named outputs"));
  const int line = __LINE__ + 1;
  g.AddOutput("y", g.Output(g.AddNode("TestUnlowered", {x}, {}, SourceLoc::Current())));
  options.name = "9lives";
  REQUIRE_THAT(CompileGraph(g, options).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "name '9lives' is not a C identifier"));
  options.name = "model";
  REQUIRE_THAT(CompileGraph(g, options).status(),
               StatusIs(absl::StatusCode::kUnimplemented,
                        "TestUnlowered 'TestUnlowered' (cpu_compiler_test.cc:" + std::to_string(line) +
                            "): no lowering for the CPU target yet"));
}

}  // namespace
}  // namespace kiln
