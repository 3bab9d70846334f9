// Last stage of the compiler: an MLIR module already in the LLVM dialect becomes an object file for
// a target's CPU, through the in-process LLVM backend (no external assembler or linker).
#ifndef KILN_CODEGEN_OBJECT_EMITTER_H_
#define KILN_CODEGEN_OBJECT_EMITTER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "target/target.h"

namespace mlir {
class ModuleOp;
}  // namespace mlir

namespace kiln {

// Translates `module` (LLVM dialect only) to LLVM IR, runs LLVM's O3 pipeline, and returns the
// bytes of a relocatable, position-independent object file for `target` (its triple, CPU and
// features; CPU "native" means this host's CPU and features). Errors: InvalidArgument for an
// unknown triple or CPU, or for a module that does not translate; Internal if LLVM cannot emit an
// object. Thread-safe: each call uses its own LLVMContext.
absl::StatusOr<std::string> EmitObject(mlir::ModuleOp module, const Target& target);

// OK if code can be emitted for `target`: InvalidArgument for an unknown triple or CPU.
absl::Status CheckTarget(const Target& target);

// The same compilation, returned as text: the optimized LLVM IR, or the target's assembly.
enum class CodeKind { kObject, kAssembly, kLlvmIr };
absl::StatusOr<std::string> EmitCode(mlir::ModuleOp module, const Target& target, CodeKind kind);

}  // namespace kiln

#endif  // KILN_CODEGEN_OBJECT_EMITTER_H_
