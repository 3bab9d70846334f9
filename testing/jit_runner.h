// Test support: compiles a graph with the CPU pipeline and runs it in process through MLIR's JIT,
// with variables kept in buffers across calls (as an app embedding the compiled object would).
#ifndef KILN_TESTING_JIT_RUNNER_H_
#define KILN_TESTING_JIT_RUNNER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/types.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "passes/graph_lowering.h"
#include "runtime/kiln_runtime.h"
#include "testing/gpu_case_value.h"

namespace kiln {

class JitGraph {
 public:
  // Compiles `outputs` (and, with `apply_updates`, the graph's training updates) of `graph`, which
  // must outlive the JitGraph. Variables start at their initializers' values. `target`: the
  // lowering's choices (the host runs the code: a CPU target; its library's hooks, oneDNN, are
  // linked in, or none for generated loops: "x86_64,library=none"). Parallel loops run on
  // `num_threads` threads. `split_reductions`: the GPU pipeline's kiln-split-reductions, run here
  // so that its results are checked on the CPU (on reductions of 64 elements or more, where the GPU
  // splits those of 1024 or more: tests' graphs are small).
  static absl::StatusOr<std::unique_ptr<JitGraph>> Compile(
      const Graph& graph, const std::vector<Tensor>& outputs, bool apply_updates = false,
      const Target& target = DefaultTarget(), int num_threads = 1, bool split_reductions = false);
  ~JitGraph();

  // One call of the compiled function: feeds by Placeholder name; returns the outputs.
  absl::StatusOr<std::vector<Literal>> Run(const Feeds& feeds);
  // A variable's current value.
  Literal variable(const std::string& name) const;

 private:
  struct Impl;
  explicit JitGraph(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Makes `name` resolve to `address` in the code JitGraph compiles from now on, besides the
// runtime's hooks: the C functions that test-only effectful ops call
// (LoweringContext::ExternalCall). Not thread-safe: call it before compiling.
void AddJitFunction(const std::string& name, void* address);

// The CUDA target's counterpart (codegen/cuda/gpu_pipeline.h): kernels as PTX, the host code in
// MLIR's JIT, on a CUDA context the caller owns (runtime/cuda.h), with device buffers for the
// inputs, variables (their initial values copied in), outputs and arena. Feeds are copied to the
// device before each run and outputs back after it. Tests run it on a fake driver (the plumbing)
// and on a GPU (the results, test/gpu/).
class GpuJitGraph {
 public:
  static absl::StatusOr<std::unique_ptr<GpuJitGraph>> Compile(const Graph& graph,
                                                              const std::vector<Tensor>& outputs,
                                                              kiln_context* cuda_context,
                                                              bool apply_updates = false);
  ~GpuJitGraph();

  absl::StatusOr<std::vector<Literal>> Run(const Feeds& feeds);
  // A variable's current value, copied from the device.
  absl::StatusOr<Literal> variable(const std::string& name) const;
  size_t num_kernels() const;

 private:
  struct Impl;
  explicit GpuJitGraph(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// `outputs` (and with `apply_updates`, the training updates) compiled for the CUDA target up to
// host code in the LLVM dialect: `name(inputs..., variables..., outputs..., context, arena)` and
// `name_prepare(context)`, launching PTX kernels embedded in the module.
struct GpuHostModule {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  LoweredSignature signature;
  int64_t arena_bytes = 0;
  size_t kernels = 0;
};
absl::StatusOr<GpuHostModule> CompileGraphForGpu(const Graph& graph,
                                                 const std::vector<Tensor>& outputs,
                                                 const std::string& name,
                                                 mlir::MLIRContext& context, bool apply_updates,
                                                 const Target& target = *ParseTarget("cuda"));

// GPU cases for machines without MLIR or Bazel (test/gpu/README.md): the GPU machines Kiln is
// lent have neither, so the compiler's GPU tests record what they would run there and a small
// runner built here (test/gpu/gpu_case_runner.cc, runtime only) runs it there. A case is a
// directory `dir` with `case.o` (host code for x86-64 with the PTX embedded, exporting
// kiln_case_run_packed(void** args) and kiln_case_prepare(context)), `manifest.txt` (arguments,
// arena, steps, tolerance) and `data.bin`: the initial variables; the feeds (unless generated);
// each step's outputs as the interpreter computes them; with check_variables, the variables after
// the last step (results sampled: every GpuCaseStride-th element). Values are stored in their
// dtypes, as compiled code keeps them.
struct GpuCase {
  std::vector<Tensor> outputs;
  bool apply_updates = false;
  Feeds feeds;                  // the same each step
  int steps = 1;                // runs; training steps update the variables
  double tolerance = 1e-5;      // |gpu - interpreter| <= tolerance * max(1, |interpreter|)
  bool check_variables = true;  // with apply_updates: compare the variables after the last step too
  // Keeps the case small for large tensors (the device tool carries at most 64 MiB): every f32
  // input is generated by GpuCaseValue (feeds unused), and results are compared at every
  // sample_stride-th element at least.
  bool generated_feeds = false;
  int64_t sample_stride = 1;
  std::string benchmark;  // a name under which the runner also times the case
};
absl::Status WriteGpuCase(const std::string& dir, const Graph& graph, const GpuCase& spec);

// Where the tests record GPU cases: $KILN_GPU_CASES, or empty when they should not. A case's
// directory is named after the Catch2 test, made unique with a counter.
std::string GpuCaseDirectory(const std::string& test_name);

}  // namespace kiln

#endif  // KILN_TESTING_JIT_RUNNER_H_
