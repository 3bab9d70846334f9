// kiln-collapse-loops: see passes/passes.td.
#include <numeric>
#include <vector>

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_COLLAPSELOOPSPASS
#include "passes/passes.h.inc"

namespace {

// Whether `op` can run its loops `run` (trailing ones) as one: every buffer operand reads them as
// its own trailing dims, in order and contiguous in memory, or not at all (a per-row value); reads
// at a constant position (a broadcast of a size-1 dim) rule it out.
bool Collapsible(mlir::linalg::GenericOp op, const mlir::ReassociationIndices& run) {
  for (mlir::OpOperand& operand : op->getOpOperands()) {
    auto type = mlir::dyn_cast<mlir::MemRefType>(operand.get().getType());
    if (!type) continue;
    mlir::AffineMap map = op.getMatchingIndexingMap(&operand);
    if (!map.isProjectedPermutation(/*allowZeroInResults=*/false)) return false;
    const int64_t rank = map.getNumResults(), n = run.size();
    const bool reads_run = llvm::any_of(run, [&](int64_t d) { return map.isFunctionOfDim(d); });
    if (!reads_run) continue;
    if (rank < n) return false;
    for (int64_t i = 0; i < n; ++i) {
      if (map.getResult(rank - n + i) != mlir::getAffineDimExpr(run[i], op.getContext()))
        return false;
    }
    llvm::SmallVector<mlir::ReassociationIndices> groups;
    for (int64_t d = 0; d < rank - n; ++d) groups.push_back({d});
    mlir::ReassociationIndices tail(n);
    std::iota(tail.begin(), tail.end(), rank - n);
    groups.push_back(tail);
    if (!mlir::memref::CollapseShapeOp::isGuaranteedCollapsible(type, groups)) return false;
  }
  return true;
}

// The longest run of trailing loops (at least two) that can run as one, or empty.
mlir::ReassociationIndices TrailingRun(mlir::linalg::GenericOp op) {
  const int64_t loops = op.getNumLoops();
  for (int64_t first = 0; first + 1 < loops; ++first) {
    mlir::ReassociationIndices run(loops - first);
    std::iota(run.begin(), run.end(), first);
    if (Collapsible(op, run)) return run;
  }
  return {};
}

struct CollapseLoopsPass : public impl::CollapseLoopsPassBase<CollapseLoopsPass> {
  void runOnOperation() override {
    std::vector<mlir::linalg::GenericOp> ops;
    getOperation()->walk([&](mlir::linalg::GenericOp op) {
      if (op.hasPureBufferSemantics() && op.getNumLoops() >= 2 && op.getNumReductionLoops() == 0)
        ops.push_back(op);
    });
    mlir::IRRewriter rewriter(&getContext());
    for (mlir::linalg::GenericOp op : ops) {
      mlir::ReassociationIndices run = TrailingRun(op);
      if (run.empty()) continue;
      rewriter.setInsertionPoint(op);
      auto collapsed = mlir::linalg::collapseOpIterationDims(op, {run}, rewriter);
      if (mlir::failed(collapsed)) continue;  // left as it is: still correct, maybe slower
      rewriter.eraseOp(op);
    }
  }
};

}  // namespace
}  // namespace kiln
