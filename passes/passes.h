// Kiln's MLIR passes (declared in passes/passes.td).
#ifndef KILN_PASSES_PASSES_H_
#define KILN_PASSES_PASSES_H_

#include <memory>

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"

namespace kiln {

#define GEN_PASS_DECL
#include "passes/passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/passes.h.inc"

}  // namespace kiln

#endif  // KILN_PASSES_PASSES_H_
