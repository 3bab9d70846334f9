#include "passes/pipeline.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Pass/PassManager.h"

namespace kiln {

absl::Status LowerToLlvmDialect(mlir::ModuleOp module) {
  // Collect every diagnostic so the caller gets one Status that says what went wrong, and where.
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(module.getContext(), [&](mlir::Diagnostic& diag) {
    llvm::raw_string_ostream os(diagnostics);
    os << diag.getLocation() << ": " << diag << "\n";
    return mlir::success();
  });

  mlir::PassManager pm(module.getContext());
  // Structured loops become branches, which the LLVM dialect has.
  pm.addPass(mlir::createSCFToControlFlowPass());
  // Subviews and reshapes become explicit offset/stride arithmetic before memrefs are lowered.
  pm.addPass(mlir::memref::createExpandStridedMetadataPass());
  pm.addPass(mlir::createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(mlir::createArithToLLVMConversionPass());
  pm.addPass(mlir::createConvertMathToLLVMPass());
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  // Bare pointers give generated functions a plain C signature.
  mlir::ConvertFuncToLLVMPassOptions func_options;
  func_options.useBarePtrCallConv = true;
  pm.addPass(mlir::createConvertFuncToLLVMPass(func_options));
  // The conversions above meet through casts that cancel out once everything is LLVM.
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());

  if (mlir::failed(pm.run(module))) {
    return absl::InvalidArgumentError(absl::StrCat("lowering to LLVM failed:\n", diagnostics));
  }
  // The conversions are partial: an op they do not know survives them. Name the first one.
  mlir::Operation* leftover = nullptr;
  module.walk([&](mlir::Operation* op) {
    if (op == module.getOperation() || llvm::isa<mlir::LLVM::LLVMDialect>(op->getDialect())) {
      return mlir::WalkResult::advance();
    }
    leftover = op;
    return mlir::WalkResult::interrupt();
  });
  if (leftover != nullptr) {
    std::string where;
    llvm::raw_string_ostream os(where);
    os << leftover->getLoc();
    return absl::InvalidArgumentError(absl::StrCat("lowering to LLVM failed: '",
                                                   leftover->getName().getStringRef().str(),
                                                   "' at ", where, " has no LLVM lowering"));
  }
  return absl::OkStatus();
}

}  // namespace kiln
