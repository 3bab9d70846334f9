// The compiler driver: a Kiln graph → an object file for a target (target/target.h) with these C
// functions, and the C++ header that declares them with typed, named accessors (codegen/header.h):
//
//   kiln_<name>_init(variables..., arena)   sets every variable to its initial value
//   kiln_<name>_prepare(context)            makes the library kernels' plans, once per context
//   kiln_<name>_run(inputs..., variables..., outputs..., context, arena)
//       computes the graph's named outputs; for a training graph (TrainStep) it also updates the
//       variables in place, so one call is one whole step
//   kiln_<name>_model_description(size)     the model described as data (runtime/kiln_model.h)
//
// Every array argument is a pointer to a dense row-major array of its static shape (scalars are
// arrays of one); `arena` is scratch memory of arena_bytes (64-byte aligned) for all temporaries,
// so the code never allocates; `context` is a kiln_context (runtime/kiln_runtime.h) that receives
// run-time errors. At run time the object needs libc, libm and Kiln's runtime (runtime/), nothing
// else.
#ifndef KILN_CODEGEN_COMPILER_H_
#define KILN_CODEGEN_COMPILER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "codegen/model_description.h"
#include "codegen/object_emitter.h"
#include "graph/graph.h"

namespace kiln {

struct CompileOptions {
  // Base of the symbol names and the header's class (snake_case: "mlp_train" → class MlpTrain).
  std::string name = "model";
  // Where the code runs and the per-target choices (target/target.h): the portable x86-64 default,
  // with matmuls and convolutions calling oneDNN. For a GPU target (cuda:sm_XX) the object is host
  // code that launches the graph's kernels (embedded) through the runtime (runtime/cuda.h); every
  // array argument, and the arena, is a device address; the init function writes the initial values
  // into host arrays, and the header's class owns the device arrays and their host copies, and
  // replays the step from a CUDA graph.
  Target target = DefaultTarget();
  // Also return the IR at each stage: tensor-level MLIR, LLVM IR and assembly.
  bool emit_ir = false;
  // Print the MLIR after every pass to stderr (kilnc --print-ir-after-all).
  bool print_ir_after_all = false;
  // Emit kiln_<name>_init, which writes the variables' initial values (and the object carries
  // them). A bundle (codegen/bundle.h) carries its weights as data instead, and has no header.
  bool initializer = true;
  // Where the graph came from, for the header's comment.
  std::string source;
};

struct CompiledGraph {
  std::string object;       // relocatable object (ELF; wasm for wasm32)
  std::string header;       // C++ header, rendered from the description
  std::string description;  // the model's description (runtime/kiln_model.h), also in the object
  std::vector<ModelDescription::Argument> arguments;  // inputs, variables, outputs
  bool training = false;
  int64_t arena_bytes = 0;
  // Identifies the graph's structure (ops, names, types, edges): checkpoints carry it, so loading
  // one written by another graph fails clearly.
  std::string fingerprint;
  std::string mlir, llvm_ir, assembly;  // with emit_ir
  // The CUDA target's kernel modules, each after a line "// ---- kiln kernel module NAME".
  std::string ptx;
  double seconds_lower = 0, seconds_passes = 0, seconds_codegen = 0;
};

// The graph's identity as its compiled code and checkpoints carry it ("kiln-graph-<hex>"): its
// ops, names, types and edges.
std::string Fingerprint(const Graph& graph);

// OK if `options` can compile a graph: InvalidArgument for a name that is not a C identifier, or a
// target whose triple or CPU LLVM does not know. CompileGraph checks the same first.
absl::Status CheckCompileOptions(const CompileOptions& options);

// Compiles the graph's named outputs (and its training updates, if it has any). InvalidArgument for
// a bad name or a graph without outputs; Unimplemented naming the op for an op without a lowering.
absl::StatusOr<CompiledGraph> CompileGraph(const Graph& graph, const CompileOptions& options);

}  // namespace kiln

#endif  // KILN_CODEGEN_COMPILER_H_
