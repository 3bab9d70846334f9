// The GPU case harness without a GPU: a recorded case runs through gpu_case_runner on the fake
// driver (runtime/testdata/), which launches nothing, so a case whose output a kernel computes must
// fail with the mismatch named, and a case without elements passes (stream and CUDA-graph runs).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "catch2/catch.hpp"
#include "graph/ops.h"
#include "testing/jit_runner.h"
#include "testing/status_matchers.h"
#include "testing/temp_files.h"

namespace kiln {
namespace {

// Writes `outputs` of `g` as case `name` under `cases` (two steps) and links it.
void WriteCase(const std::string& cases, const std::string& name, const Graph& g,
               const std::vector<Tensor>& outputs, const Feeds& feeds) {
  GpuCase spec;
  spec.outputs = outputs;
  spec.feeds = feeds;
  spec.steps = 2;
  const std::string dir = cases + "/" + name;
  REQUIRE_THAT(WriteGpuCase(dir, g, spec), IsOk());
  REQUIRE(std::system(("cc -shared -o " + dir + "/case.so " + dir + "/case.o -lm").c_str()) == 0);
}

// A fresh directory for cases.
std::string Cases(const std::string& name) {
  const std::string cases = testing::TempPath("cases_" + name);
  REQUIRE(std::system(("rm -rf " + cases + " && mkdir -p " + cases).c_str()) == 0);
  return cases;
}

// The runner's output and exit status on the fake driver; `prefix`: environment assignments.
std::pair<std::string, int> Run(const std::string& cases, const std::string& args = "",
                                const std::string& prefix = "") {
  const std::string command =
      prefix + " test/gpu/gpu_case_runner --driver runtime/testdata/libfake_cuda.so " + args + " " +
      cases + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) output.append(buffer, n);
  const int status = pclose(pipe);
  return {output, WEXITSTATUS(status)};
}

// x [4] and -x, whose output a kernel computes.
struct Negate {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {4});
  Tensor y = ops::Neg(x);
  Feeds feeds() const {
    Literal values(DType::kF32, {4});
    values.values = {1, 2, 3, 4};
    return {{"x", values}};
  }
};

// A case without elements: nothing to compute, so it passes on the fake driver.
struct Empty {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {0, 3});
  Tensor y = ops::Exp(x);
  Feeds feeds() const { return {{"x", Literal(DType::kF32, {0, 3})}}; }
};

TEST_CASE("gpu_case_runner reports a result that differs from the interpreter's, naming it") {
  Negate n;
  const std::string cases = Cases("negate");
  WriteCase(cases, "negate", n.g, {n.y}, n.feeds());
  auto [output, status] = Run(cases);
  INFO(output);
  CHECK(status == 1);
  // The fake driver runs no kernel: the output buffer keeps what the allocation held.
  CHECK(output.find("FAIL negate: step 0: output 'output0' element 0: GPU ") != std::string::npos);
  CHECK(output.find(", interpreter -1 (of 4)") != std::string::npos);
  CHECK(output.find("0 passed, 1 failed") != std::string::npos);
}

TEST_CASE("gpu_case_runner runs a case by stream and by CUDA graph") {
  Empty e;
  const std::string cases = Cases("empty");
  WriteCase(cases, "empty", e.g, {e.y}, e.feeds());
  auto [output, status] = Run(cases);
  INFO(output);
  CHECK(status == 0);
  CHECK(output.find("PASS empty") != std::string::npos);
  CHECK(output.find("1 passed, 0 failed") != std::string::npos);
}

TEST_CASE(
    "After a fault that breaks the context, gpu_case_runner stops and goes on after it when "
    "asked") {
  Negate n;
  Empty e;
  const std::string cases = Cases("fault");
  WriteCase(cases, "a_faults", n.g, {n.y}, n.feeds());
  WriteCase(cases, "b_after", e.g, {e.y}, e.feeds());
  auto [output, status] = Run(cases, "", "FAKE_CUDA_POISON_AT_LAUNCH=1");
  INFO(output);
  CHECK(status == 3);
  CHECK(output.find("FAIL a_faults: step 0: cuLaunchKernel for kernel '") != std::string::npos);
  CHECK(output.find("RESTART after a_faults: the GPU context is unusable") != std::string::npos);
  CHECK(output.find("b_after") == std::string::npos);
  auto [rest, rest_status] = Run(cases, "--after a_faults");
  INFO(rest);
  CHECK(rest_status == 0);
  CHECK(rest.find("PASS b_after") != std::string::npos);
  CHECK(rest.find("a_faults") == std::string::npos);
}

TEST_CASE("A case without a result in time ends gpu_case_runner, which says so") {
  Negate n;
  Empty e;
  const std::string cases = Cases("hang");
  WriteCase(cases, "a_hangs", n.g, {n.y}, n.feeds());
  WriteCase(cases, "b_after", e.g, {e.y}, e.feeds());
  auto [output, status] = Run(cases, "--case-timeout 2", "FAKE_CUDA_HANG_AT_LAUNCH=1");
  INFO(output);
  CHECK(status == 3);
  CHECK(output.find("FAIL a_hangs: no result after 2 s (a kernel that does not end?)") !=
        std::string::npos);
  CHECK(output.find("RESTART after a_hangs: timed out") != std::string::npos);
}

}  // namespace
}  // namespace kiln
