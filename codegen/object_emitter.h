// Last stage of the compiler: an MLIR module already in the LLVM dialect becomes an object file for a
// CPU target, through the in-process LLVM backend (no external assembler or linker).
#ifndef KILN_CODEGEN_OBJECT_EMITTER_H_
#define KILN_CODEGEN_OBJECT_EMITTER_H_

#include <string>

#include "absl/status/statusor.h"

namespace mlir {
class ModuleOp;
}  // namespace mlir

namespace kiln {

// Which machine an object is built for.
struct CpuTarget {
  // An LLVM target triple, e.g. "x86_64-unknown-linux-gnu" or "aarch64-unknown-linux-gnu".
  std::string triple = "x86_64-unknown-linux-gnu";
  // An LLVM CPU name. "x86-64-v3" (AVX2 + FMA) runs on any x86-64 machine of the last decade; "native"
  // means this host's CPU and features, and may crash elsewhere, so it is an explicit choice.
  std::string cpu = "x86-64-v3";
  // Extra LLVM feature flags ("+avx512f,-fma"); empty means the CPU's own.
  std::string features;
};

// Translates `module` (LLVM dialect only) to LLVM IR, runs LLVM's O3 pipeline, and returns the bytes of
// a relocatable, position-independent object file for `target`. Errors: InvalidArgument for an unknown
// triple or CPU, or for a module that does not translate; Internal if LLVM cannot emit an object.
// Thread-safe: each call uses its own LLVMContext.
absl::StatusOr<std::string> EmitObject(mlir::ModuleOp module, const CpuTarget& target);

// The same compilation, returned as text: the optimized LLVM IR, or the target's assembly.
enum class CodeKind { kObject, kAssembly, kLlvmIr };
absl::StatusOr<std::string> EmitCode(mlir::ModuleOp module, const CpuTarget& target, CodeKind kind);

}  // namespace kiln

#endif  // KILN_CODEGEN_OBJECT_EMITTER_H_
