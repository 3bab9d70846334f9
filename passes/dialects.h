// The MLIR dialects Kiln's compiler works in, registered in one place so kiln-opt, kilnc and tests
// parse and print the same IR.
#ifndef KILN_PASSES_DIALECTS_H_
#define KILN_PASSES_DIALECTS_H_

namespace mlir {
class DialectRegistry;
}  // namespace mlir

namespace kiln {

// Adds the upstream dialects a compiled graph passes through (func, arith, math, linalg, tensor,
// bufferization, memref, scf, cf, affine, LLVM) and their translations to LLVM IR.
void RegisterDialects(mlir::DialectRegistry& registry);

}  // namespace kiln

#endif  // KILN_PASSES_DIALECTS_H_
