// kiln-lower-library-calls: see passes/passes.td.
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_LOWERLIBRARYCALLSPASS
#include "passes/passes.h.inc"

namespace {

struct LowerLibraryCallsPass : public impl::LowerLibraryCallsPassBase<LowerLibraryCallsPass> {
  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    auto ptr = mlir::LLVM::LLVMPointerType::get(&getContext());
    llvm::SmallVector<mlir::func::FuncOp> sites;
    for (auto f : module.getOps<mlir::func::FuncOp>()) {
      if (f->hasAttr("kiln.library_hook")) sites.push_back(f);
    }
    for (mlir::func::FuncOp site : sites) {
      auto hook = site->getAttrOfType<mlir::StringAttr>("kiln.library_hook");
      if (!module.lookupSymbol(hook)) {
        mlir::OpBuilder mb(module.getBodyRegion());
        std::vector<mlir::Type> params(site.getNumArguments(), ptr);
        mlir::func::FuncOp::create(mb, site.getLoc(), hook, mb.getFunctionType(params, {})).setPrivate();
      }
      std::optional<mlir::SymbolTable::UseRange> uses = site.getSymbolUses(module);
      if (uses) {
        for (const mlir::SymbolTable::SymbolUse& use : *uses) {
          auto call = mlir::dyn_cast<mlir::func::CallOp>(use.getUser());
          if (!call) {
            use.getUser()->emitOpError("uses a library call site other than by calling it");
            return signalPassFailure();
          }
          mlir::OpBuilder b(call);
          std::vector<mlir::Value> args;
          for (mlir::Value operand : call.getOperands()) {
            if (!mlir::isa<mlir::MemRefType>(operand.getType())) {
              args.push_back(operand);
              continue;
            }
            mlir::Value index = mlir::memref::ExtractAlignedPointerAsIndexOp::create(b, call.getLoc(), operand);
            mlir::Value i64 = mlir::arith::IndexCastOp::create(b, call.getLoc(), b.getI64Type(), index);
            args.push_back(mlir::LLVM::IntToPtrOp::create(b, call.getLoc(), ptr, i64));
          }
          mlir::func::CallOp::create(b, call.getLoc(), hook.getValue(), mlir::TypeRange{}, args);
          call->erase();
        }
      }
      site->erase();
    }
  }
};

}  // namespace
}  // namespace kiln
