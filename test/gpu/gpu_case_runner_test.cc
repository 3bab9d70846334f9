// The GPU case harness without a GPU: a recorded case runs through gpu_case_runner on the fake
// driver (runtime/testdata/), which launches nothing, so a case whose output a kernel computes must
// fail with the mismatch named, and a case without elements passes (stream and CUDA-graph runs).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "catch2/catch.hpp"
#include "graph/ops.h"
#include "passes/jit_runner.h"
#include "test/status_matchers.h"
#include "test/temp_files.h"

namespace kiln {
namespace {

// Writes `graph`'s `outputs` as a case under a fresh cases directory, links it, and returns the
// runner's output and exit status.
std::pair<std::string, int> RecordAndRun(const Graph& g, const std::vector<Tensor>& outputs, const Feeds& feeds,
                                         const std::string& name) {
  const std::string cases = testing::TempPath("cases_" + name);
  REQUIRE(std::system(("rm -rf " + cases + " && mkdir -p " + cases).c_str()) == 0);
  GpuCase spec;
  spec.outputs = outputs;
  spec.feeds = feeds;
  spec.steps = 2;
  REQUIRE_THAT(WriteGpuCase(cases + "/" + name, g, spec), IsOk());
  const std::string dir = cases + "/" + name;
  REQUIRE(std::system(("cc -shared -o " + dir + "/case.so " + dir + "/case.o -lm").c_str()) == 0);
  const std::string command = "test/gpu/gpu_case_runner --driver runtime/testdata/libfake_cuda.so " + cases + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {output, WEXITSTATUS(status)};
}

TEST_CASE("gpu_case_runner reports a result that differs from the interpreter's, naming it") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {4});
  Literal values(DType::kF32, {4});
  values.values = {1, 2, 3, 4};
  auto [output, status] = RecordAndRun(g, {ops::Neg(x)}, {{"x", values}}, "negate");
  INFO(output);
  CHECK(status == 1);
  // The fake driver runs no kernel: the output buffer keeps what the allocation held.
  CHECK(output.find("FAIL negate: step 0: output 'output0' element 0: GPU ") != std::string::npos);
  CHECK(output.find(", interpreter -1 (of 4)") != std::string::npos);
  CHECK(output.find("0 passed, 1 failed") != std::string::npos);
}

TEST_CASE("gpu_case_runner runs a case by stream and by CUDA graph") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {0, 3});
  auto [output, status] = RecordAndRun(g, {ops::Exp(x)}, {{"x", Literal(DType::kF32, {0, 3})}}, "empty");
  INFO(output);
  CHECK(status == 0);
  CHECK(output.find("PASS empty") != std::string::npos);
  CHECK(output.find("1 passed, 0 failed") != std::string::npos);
}

}  // namespace
}  // namespace kiln
