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

// The aligned pointer of `buffer` as an !llvm.ptr, the C ABI's view of an array.
mlir::Value PointerTo(mlir::OpBuilder& b, mlir::Location loc, mlir::Value buffer) {
  auto ptr = mlir::LLVM::LLVMPointerType::get(b.getContext());
  mlir::Value index = mlir::memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
  mlir::Value i64 = mlir::arith::IndexCastOp::create(b, loc, b.getI64Type(), index);
  return mlir::LLVM::IntToPtrOp::create(b, loc, ptr, i64);
}

// `name` minus a trailing "_run", plus "_prepare": kiln_mlp_run -> kiln_mlp_prepare.
std::string PrepareName(llvm::StringRef name) {
  name.consume_back("_run");
  return (name + "_prepare").str();
}

void Declare(mlir::ModuleOp module, llvm::StringRef name, int num_pointers) {
  if (module.lookupSymbol(name)) return;
  mlir::OpBuilder mb(module.getBodyRegion());
  std::vector<mlir::Type> params(num_pointers,
                                 mlir::LLVM::LLVMPointerType::get(module.getContext()));
  mlir::func::FuncOp::create(mb, module.getLoc(), name, mb.getFunctionType(params, {}))
      .setPrivate();
}

struct LowerLibraryCallsPass : public impl::LowerLibraryCallsPassBase<LowerLibraryCallsPass> {
  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    auto ptr = mlir::LLVM::LLVMPointerType::get(&getContext());
    // Each public function that takes a runtime context gets a prepare function (context only).
    llvm::DenseMap<mlir::Operation*, mlir::func::FuncOp> prepare_of;
    for (auto f : llvm::to_vector(module.getOps<mlir::func::FuncOp>())) {
      if (f.isPrivate() || f.isExternal() ||
          llvm::count(f.getArgumentTypes(), mlir::Type(ptr)) != 1)
        continue;
      mlir::OpBuilder mb(module.getContext());
      mb.setInsertionPointAfter(f);
      auto prepare = mlir::func::FuncOp::create(mb, f.getLoc(), PrepareName(f.getName()),
                                                mb.getFunctionType({ptr}, {}));
      mlir::Block* entry = prepare.addEntryBlock();
      mb.setInsertionPointToEnd(entry);
      mlir::func::ReturnOp::create(mb, f.getLoc());
      prepare_of[f] = prepare;
    }
    llvm::SmallVector<mlir::func::FuncOp> sites;
    for (auto f : module.getOps<mlir::func::FuncOp>()) {
      if (f->hasAttr("kiln.library_hook")) sites.push_back(f);
    }
    for (mlir::func::FuncOp site : sites) {
      auto hook = site->getAttrOfType<mlir::StringAttr>("kiln.library_hook");
      Declare(module, hook.getValue(), site.getNumArguments());
      std::optional<mlir::SymbolTable::UseRange> uses = site.getSymbolUses(module);
      if (uses) {
        for (const mlir::SymbolTable::SymbolUse& use : *uses) {
          auto call = mlir::dyn_cast<mlir::func::CallOp>(use.getUser());
          if (!call) {
            use.getUser()->emitOpError("uses a library call site other than by calling it");
            return signalPassFailure();
          }
          // An effect's call (kiln.effect: ExternalCall in graph/lowering.h) has nothing to
          // prepare.
          if (!site->hasAttr("kiln.effect") &&
              mlir::failed(AddPrepareCall(module, call, hook.getValue(), prepare_of))) {
            return signalPassFailure();
          }
          mlir::OpBuilder b(call);
          std::vector<mlir::Value> args;
          for (mlir::Value operand : call.getOperands()) {
            args.push_back(mlir::isa<mlir::MemRefType>(operand.getType())
                               ? PointerTo(b, call.getLoc(), operand)
                               : operand);
          }
          mlir::func::CallOp::create(b, call.getLoc(), hook.getValue(), mlir::TypeRange{}, args);
          call->erase();
        }
      }
      site->erase();
    }
  }

  // In the prepare function of the call's function: `<hook>_prepare(context, params)`, so the
  // kernel for these parameters is made before the first run. The call's operands are (context,
  // params, arrays...) and its params a constant global.
  mlir::LogicalResult AddPrepareCall(
      mlir::ModuleOp module, mlir::func::CallOp call, llvm::StringRef hook,
      const llvm::DenseMap<mlir::Operation*, mlir::func::FuncOp>& prepare_of) {
    auto it = prepare_of.find(call->getParentOfType<mlir::func::FuncOp>());
    if (it == prepare_of.end())
      return mlir::success();  // not reachable from a run function's context
    auto global = call.getNumOperands() > 1
                      ? call.getOperand(1).getDefiningOp<mlir::memref::GetGlobalOp>()
                      : nullptr;
    if (!global) return call.emitOpError("a library call's parameters must be a constant global");
    const std::string name = (hook + "_prepare").str();
    Declare(module, name, 2);
    mlir::func::FuncOp prepare = it->second;
    mlir::OpBuilder b(prepare.getBody().front().getTerminator());
    mlir::Value params = PointerTo(b, call.getLoc(), b.clone(*global)->getResult(0));
    mlir::func::CallOp::create(b, call.getLoc(), name, mlir::TypeRange{},
                               mlir::ValueRange{prepare.getArgument(0), params});
    return mlir::success();
  }
};

}  // namespace
}  // namespace kiln
