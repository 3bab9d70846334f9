// Kiln's MLIR pass pipelines, each one function with one line per pass saying why it is there.
#ifndef KILN_PASSES_PIPELINE_H_
#define KILN_PASSES_PIPELINE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

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
  // For a GPU target (passes/gpu_pipeline.h): loop nests stay scf.parallel for the GPU mapping,
  // without CPU row-block fusion or thread-pool outlining.
  bool gpu = false;
  // kiln-split-reductions (always on with `gpu`; on the CPU for tests of the transformation), for
  // reductions of at least split_min_length elements per result (tests lower it).
  bool split_reductions = false;
  int64_t split_min_length = 1024;
};

// Lowers a module of func, arith, math, scf, cf and memref ops (already bufferized) to the LLVM
// dialect, in place. Memref arguments become bare pointers to their elements, so a function over
// `memref<16xf32>` is called from C as `void f(float*)`. Returns InvalidArgument with the MLIR
// diagnostics when a pass fails.
absl::Status LowerToLlvmDialect(mlir::ModuleOp module, const PipelineOptions& options = {});

// Compiles a module of linalg/tensor/arith/math ops on tensors (what LowerGraph emits) to the LLVM
// dialect: fuses elementwise producers into consumers, bufferizes (results written straight into the
// destination arguments), plans all temporaries into one arena (kiln-plan-memory: every function gets
// a last argument, its arena, of the size in its `kiln.arena_bytes` attribute), lowers to loops, then
// LowerToLlvmDialect.
absl::Status CompileTensorsToLlvmDialect(mlir::ModuleOp module, const PipelineOptions& options = {});

// The two halves of CompileTensorsToLlvmDialect as pass lists (kiln-opt registers them as the
// pipelines kiln-tensors-to-loops and kiln-loops-to-llvm, for lit tests of each stage).
void AddTensorsToLoopsPasses(mlir::OpPassManager& pm, const PipelineOptions& options = {});
void AddLoopsToLlvmPasses(mlir::OpPassManager& pm);

// Runs `pm` on `module` (printing the IR after every pass when `options` asks), turning MLIR's
// diagnostics into one InvalidArgument: "<what> failed:" and each diagnostic with its location.
absl::Status RunPasses(mlir::PassManager& pm, mlir::ModuleOp module, const char* what,
                       const PipelineOptions& options = {});

// The arena size kiln-plan-memory chose for `function` (0 if it has no plan).
int64_t ArenaBytes(mlir::ModuleOp module, const std::string& function);

}  // namespace kiln

#endif  // KILN_PASSES_PIPELINE_H_
