// kiln-update-in-place: see passes/passes.td.
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/AffineMap.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_UPDATEINPLACEPASS
#include "passes/passes.h.inc"

namespace {

// `op`, or its ancestor in `block`.
mlir::Operation* InBlock(mlir::Operation* op, mlir::Block* block) {
  return block->findAncestorOpInBlock(*op);
}

// The loop nest that writes `temp` (a fresh allocation): its only init, all loops parallel, every
// element written once at the identity position. Null when `temp` has any other kind of writer or
// an alias (a view) that would escape this analysis.
mlir::linalg::GenericOp SoleWriter(mlir::Value temp) {
  mlir::linalg::GenericOp writer;
  for (mlir::OpOperand& use : temp.getUses()) {
    mlir::Operation* user = use.getOwner();
    if (auto generic = mlir::dyn_cast<mlir::linalg::GenericOp>(user)) {
      if (!generic.isDpsInit(&use)) continue;  // a read
      if (writer || generic.getNumDpsInits() != 1 || generic.getNumReductionLoops() > 0 ||
          !generic.getMatchingIndexingMap(&use).isIdentity() ||
          generic.payloadUsesValueFromOperand(&use)) {
        return {};
      }
      writer = generic;
    } else if (!mlir::isa<mlir::memref::LoadOp, mlir::memref::CopyOp, mlir::memref::DeallocOp>(
                   user)) {
      return {};
    }
  }
  return writer;
}

struct UpdateInPlacePass : public impl::UpdateInPlacePassBase<UpdateInPlacePass> {
  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (func.isExternal()) return;
    mlir::Block* entry = &func.getBody().front();
    llvm::SmallVector<mlir::memref::CopyOp> copies;
    func.walk([&](mlir::memref::CopyOp copy) { copies.push_back(copy); });
    for (mlir::memref::CopyOp copy : copies) {
      auto variable = mlir::dyn_cast<mlir::BlockArgument>(copy.getTarget());
      auto alloc = copy.getSource().getDefiningOp<mlir::memref::AllocOp>();
      if (!variable || variable.getOwner() != entry || !alloc || copy->getBlock() != entry ||
          alloc.getType() != variable.getType()) {
        continue;
      }
      mlir::linalg::GenericOp writer = SoleWriter(alloc);
      if (!writer || writer->getBlock() != entry || !writer->isBeforeInBlock(copy)) continue;
      // Every other use of the variable must come before the writer, or be the writer reading
      // element i while it writes element i.
      bool safe = true;
      for (mlir::OpOperand& use : variable.getUses()) {
        mlir::Operation* user = InBlock(use.getOwner(), entry);
        if (user == copy.getOperation()) continue;
        if (user == writer.getOperation()) {
          safe &= writer.isDpsInput(&use) && writer.getMatchingIndexingMap(&use).isIdentity();
        } else {
          // A view of the variable could be read anywhere later: give up.
          safe &= user->isBeforeInBlock(writer) && user->getNumResults() == 0;
        }
      }
      // Readers of the new value must read it after the writer (they will read the variable).
      for (mlir::Operation* user : alloc->getUsers()) {
        mlir::Operation* in_block = InBlock(user, entry);
        safe &= in_block == writer.getOperation() || writer->isBeforeInBlock(in_block) ||
                mlir::isa<mlir::memref::DeallocOp>(user);
      }
      if (!safe) continue;
      llvm::SmallVector<mlir::Operation*> deallocs;
      for (mlir::Operation* user : alloc->getUsers()) {
        if (mlir::isa<mlir::memref::DeallocOp>(user)) deallocs.push_back(user);
      }
      for (mlir::Operation* d : deallocs) d->erase();
      copy->erase();
      alloc.getResult().replaceAllUsesWith(variable);
      alloc->erase();
    }
  }
};

}  // namespace
}  // namespace kiln
