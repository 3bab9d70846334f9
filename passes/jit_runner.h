// Test support: compiles a graph with the CPU pipeline and runs it in process through MLIR's JIT, with
// variables kept in buffers across calls (as an app embedding the compiled object would).
#ifndef KILN_PASSES_JIT_RUNNER_H_
#define KILN_PASSES_JIT_RUNNER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/types.h"
#include "runtime/kiln_runtime.h"

namespace kiln {

class JitGraph {
 public:
  // Compiles `outputs` (and, with `apply_updates`, the graph's training updates) of `graph`, which
  // must outlive the JitGraph. Variables start at their initializers' values. `library_calls`: as
  // LowerGraph's (oneDNN for matmuls and convolutions; loops without). Parallel loops run on
  // `num_threads` threads.
  static absl::StatusOr<std::unique_ptr<JitGraph>> Compile(const Graph& graph,
                                                           const std::vector<Tensor>& outputs,
                                                           bool apply_updates = false,
                                                           bool library_calls = true, int num_threads = 1);
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

// The CUDA target's counterpart (passes/gpu_pipeline.h): kernels as PTX, the host code in MLIR's
// JIT, on a CUDA context the caller owns (runtime/cuda.h), with device buffers for the inputs,
// variables (their initial values copied in), outputs and arena. Feeds are copied to the device
// before each run and outputs back after it. Tests run it on a fake driver (the plumbing) and on a
// GPU (the results, test/gpu/).
class GpuJitGraph {
 public:
  static absl::StatusOr<std::unique_ptr<GpuJitGraph>> Compile(const Graph& graph, const std::vector<Tensor>& outputs,
                                                              kiln_context* cuda_context, bool apply_updates = false);
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

}  // namespace kiln

#endif  // KILN_PASSES_JIT_RUNNER_H_
