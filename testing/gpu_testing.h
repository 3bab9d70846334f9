// Test support for the CUDA target: a graph compiled to PTX kernels, the check that each is
// accepted by the toolkit's ptxas (no GPU needed), and the GPU to run them on where there is one.
#ifndef KILN_TESTING_GPU_TESTING_H_
#define KILN_TESTING_GPU_TESTING_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "catch2/catch.hpp"
#include "codegen/cuda/gpu_pipeline.h"
#include "graph/graph.h"
#include "graph/status_macros.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "passes/graph_lowering.h"
#include "runtime/cuda.h"
#include "testing/jit_runner.h"
#include "testing/temp_files.h"

namespace kiln {
namespace testing {

// `outputs` (and with `training`, the graph's updates) compiled to PTX kernels.
inline absl::StatusOr<std::vector<GpuKernel>> CompileGraphToPtx(const Graph& g,
                                                                const std::vector<Tensor>& outputs,
                                                                bool training = false) {
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  RegisterGpuDialects(registry);
  mlir::MLIRContext context(registry);
  const Target target = *ParseTarget("cuda");
  KILN_ASSIGN_OR_RETURN(
      mlir::OwningOpRef<mlir::ModuleOp> module,
      LowerGraph(g, outputs, "kiln_graph_run", context, nullptr, target, training));
  GpuOptions options;
  options.cubin = false;  // RequireValidPtx runs ptxas itself
  return CompileTensorsToPtx(*module, target, options);
}

// At least `at_least` kernels, each for sm_90 with an entry point, calling nothing outside itself
// (libdevice's erf, exp, ... linked in), and accepted by ptxas.
inline void RequireValidPtx(const std::vector<GpuKernel>& kernels, size_t at_least = 1) {
  REQUIRE(kernels.size() >= at_least);
  for (const GpuKernel& k : kernels) {
    INFO(k.name << ":\n" << k.ptx);
    CHECK(k.ptx.find(".target sm_90") != std::string::npos);
    CHECK(k.ptx.find(".entry") != std::string::npos);
    CHECK(k.ptx.find(".extern .func") == std::string::npos);
    const std::string path = TempPath(k.name + ".ptx");
    WriteFile(path, k.ptx);
    const std::string command =
        GpuOptions{}.toolkit + "/bin/ptxas -arch=sm_90 " + path + " -o /dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
  }
}

// Whether the CUDA toolkit the CUDA target compiles with (libdevice, ptxas) is here. Where it is
// not, the CUDA backend of the oracle tests is left out, saying so once.
inline bool CudaToolkit() {
  static const bool found = [] {
    const std::string toolkit = GpuOptions{}.toolkit;
    const bool here = ::access((toolkit + "/bin/ptxas").c_str(), X_OK) == 0 &&
                      ::access((toolkit + "/nvvm/libdevice/libdevice.10.bc").c_str(), R_OK) == 0;
    if (!here) {
      std::fprintf(stderr, "SKIPPED: the CUDA backend of these cases (no CUDA toolkit at %s)\n",
                   toolkit.c_str());
    }
    return here;
  }();
  return found;
}

// A context on the first GPU, or null where none is usable. test/gpu/run.sh sets
// KILN_REQUIRE_GPU=1: there a missing GPU fails the test rather than leaving the GPU runs out.
inline kiln_context* UsableGpu() {
  static std::string why;
  static kiln_context* gpu = [] {
    kiln_context* c = kiln_cuda_context_create(0);
    if (c != nullptr && kiln_context_status(c) != KILN_OK) {
      why = kiln_context_message(c);
      kiln_context_destroy(c);
      c = nullptr;
    }
    return c;
  }();
  if (gpu == nullptr && std::getenv("KILN_REQUIRE_GPU") != nullptr) {
    FAIL("KILN_REQUIRE_GPU is set but no GPU is usable: " << why);
  }
  static const bool said = [] {
    if (gpu == nullptr) {
      std::fprintf(stderr,
                   "SKIPPED: the GPU runs of these cases (no usable GPU: %s); their kernels are "
                   "checked with "
                   "ptxas here, and test/gpu/run.sh runs them on a GPU machine\n",
                   why.c_str());
    }
    return true;
  }();
  (void)said;
  return gpu;
}

// Where $KILN_GPU_CASES is set (test/gpu/build.sh), records the case for test/gpu's runner, named
// after the current test.
inline void RecordGpuCase(const Graph& g, const GpuCase& spec) {
  const std::string dir = GpuCaseDirectory(Catch::getResultCapture().getCurrentTestName());
  if (dir.empty()) return;
  const absl::Status s = WriteGpuCase(dir, g, spec);
  INFO("recording the GPU case " << dir << ": " << s.ToString());
  REQUIRE(s.ok());
}

}  // namespace testing
}  // namespace kiln

#endif  // KILN_TESTING_GPU_TESTING_H_
