// Kiln's MLIR pass pipelines, each one function with one line per pass saying why it is there.
#ifndef KILN_PASSES_PIPELINE_H_
#define KILN_PASSES_PIPELINE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "target/target.h"

namespace mlir {
class ModuleOp;
class OpPassManager;
class PassManager;
}  // namespace mlir

namespace kiln {

struct PipelineOptions {
  // Prints the IR after every pass to stderr (kilnc compile --print-ir-after-all).
  bool print_ir_after_all = false;
  // kiln-parallelize splits a loop over threads when its estimated work (iterations x operations)
  // is at least this (tests set 1, to split every loop they can).
  int64_t parallel_min_work = 32768;
  // kiln-split-reductions (always on for a GPU target; on the CPU for tests of the transformation),
  // for reductions of at least split_min_length elements per result (tests lower it).
  bool split_reductions = false;
  int64_t split_min_length = 1024;
};

// Lowers a module of func, arith, math, scf, cf and memref ops (already bufferized) to the LLVM
// dialect, in place. Memref arguments become bare pointers to their elements, so a function over
// `memref<16xf32>` is called from C as `void f(float*)`. Returns Unimplemented naming an op the
// conversions left (it has no LLVM lowering), Internal with the MLIR diagnostics when a pass fails.
absl::Status LowerToLlvmDialect(mlir::ModuleOp module, const PipelineOptions& options = {});

// Compiles a module of linalg/tensor/arith/math ops on tensors (what LowerGraph emits) to the LLVM
// dialect for a CPU `target`: AddTensorPasses, AddCpuLoopPasses, then LowerToLlvmDialect. Every
// function gets a last argument, its arena, of the size in its `kiln.arena_bytes` attribute.
absl::Status CompileTensorsToLlvmDialect(mlir::ModuleOp module, const Target& target,
                                         const PipelineOptions& options = {});

// The pipelines as pass lists: a target-independent part, then one tail per kind of target.
// (kiln-opt registers the CPU stages as kiln-tensors-to-loops and kiln-loops-to-llvm, for lit
// tests of each stage.)
//
// Target-independent: fuses elementwise producers into consumers, simplifies, merges repeated
// values, splits long reductions (with `split_reductions`), bufferizes (results written straight
// into the destination arguments) and updates variables in place.
void AddTensorPasses(mlir::OpPassManager& pm, const PipelineOptions& options = {});
// The CPU tail, to loops: fuses loop nests over the same rows, plans all temporaries into one arena
// (kiln-plan-memory), makes library calls hook calls, shapes loops for vectorization and, where
// `target` has threads, runs large loops on the runtime's thread pool.
void AddCpuLoopPasses(mlir::OpPassManager& pm, const Target& target,
                      const PipelineOptions& options = {});
// The GPU tail, to loops: the memory plan and library calls as on the CPU, then loop nests left as
// scf.parallel, parallel loops outermost, for the GPU mapping (codegen's CUDA pipeline).
void AddGpuLoopPasses(mlir::OpPassManager& pm);
// From loops and memrefs to the LLVM dialect (any target's host code).
void AddLoopsToLlvmPasses(mlir::OpPassManager& pm);

// Runs `pm` on `module` (printing the IR after every pass when `options` asks), turning MLIR's
// diagnostics into one Internal error ("<what> failed:" and each diagnostic with its location): a
// pass failing on a validated graph is a compiler bug.
absl::Status RunPasses(mlir::PassManager& pm, mlir::ModuleOp module, const char* what,
                       const PipelineOptions& options = {});

// The arena size kiln-plan-memory chose for `function` (0 if it has no plan).
int64_t ArenaBytes(mlir::ModuleOp module, const std::string& function);

}  // namespace kiln

#endif  // KILN_PASSES_PIPELINE_H_
