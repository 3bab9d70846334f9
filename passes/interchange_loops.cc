// kiln-interchange-loops: see passes/passes.td.
#include <vector>

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_INTERCHANGELOOPSPASS
#include "passes/passes.h.inc"

namespace {

// The loop to make innermost in `op`, or -1: the result's last dim, when it is a parallel loop that
// every operand reads either along its own last dim (unit stride) or not at all.
int UnitStrideLoop(mlir::linalg::GenericOp op) {
  if (op.getNumReductionLoops() == 0 || op.getNumDpsInits() != 1) return -1;
  mlir::AffineMap out = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  if (out.getNumResults() == 0) return -1;
  auto last = mlir::dyn_cast<mlir::AffineDimExpr>(out.getResults().back());
  if (!last) return -1;
  const int p = static_cast<int>(last.getPosition());
  if (p == static_cast<int>(op.getNumLoops()) - 1 ||
      op.getIteratorTypesArray()[p] != mlir::utils::IteratorType::parallel) {
    return -1;
  }
  for (mlir::AffineMap map : op.getIndexingMapsArray()) {
    for (unsigned r = 0; r < map.getNumResults(); ++r) {
      const bool last_result = r + 1 == map.getNumResults();
      if (map.getResult(r).isFunctionOfDim(p) && !(last_result && map.getResult(r) == last))
        return -1;
    }
  }
  return p;
}

// GPU: parallel loops first, then the reductions, each group in its original order.
std::vector<unsigned> ParallelFirst(mlir::linalg::GenericOp op) {
  std::vector<unsigned> parallel, reduction;
  for (unsigned l = 0; l < op.getNumLoops(); ++l) {
    (op.getIteratorTypesArray()[l] == mlir::utils::IteratorType::parallel ? parallel : reduction)
        .push_back(l);
  }
  parallel.insert(parallel.end(), reduction.begin(), reduction.end());
  for (unsigned l = 0; l < parallel.size(); ++l) {
    if (parallel[l] != l) return parallel;
  }
  return {};  // already so
}

// GPU: an op without loops (rank-0 operands) as one over one iteration, its operands viewed as
// memref<1xT>.
void GiveOneLoop(mlir::IRRewriter& rewriter, mlir::linalg::GenericOp op) {
  rewriter.setInsertionPoint(op);
  mlir::MLIRContext* ctx = op.getContext();
  llvm::SmallVector<mlir::Value> ins, outs;
  for (mlir::OpOperand& operand : op->getOpOperands()) {
    mlir::Value v = operand.get();
    if (auto type = mlir::dyn_cast<mlir::MemRefType>(v.getType())) {
      v = mlir::memref::ExpandShapeOp::create(rewriter, op.getLoc(),
                                              mlir::MemRefType::get({1}, type.getElementType()), v,
                                              llvm::ArrayRef<mlir::ReassociationIndices>{});
    }
    (op.isDpsInit(&operand) ? outs : ins).push_back(v);
  }
  llvm::SmallVector<mlir::AffineMap> maps;
  for (mlir::OpOperand& operand : op->getOpOperands()) {
    const bool buffer = mlir::isa<mlir::MemRefType>(operand.get().getType());
    maps.push_back(buffer ? mlir::AffineMap::getMultiDimIdentityMap(1, ctx)
                          : mlir::AffineMap::get(1, 0, ctx));
  }
  auto one = mlir::linalg::GenericOp::create(rewriter, op.getLoc(), mlir::TypeRange{}, ins, outs,
                                             maps, {mlir::utils::IteratorType::parallel});
  rewriter.inlineRegionBefore(op.getRegion(), one.getRegion(), one.getRegion().end());
  rewriter.eraseOp(op);
}

struct InterchangeLoopsPass : public impl::InterchangeLoopsPassBase<InterchangeLoopsPass> {
  using InterchangeLoopsPassBase::InterchangeLoopsPassBase;

  void runOnOperation() override {
    mlir::IRRewriter rewriter(&getContext());
    if (thread_per_element) {
      // Copies between buffers (an output that is an input or a variable) run on the device too:
      // as loop nests (generics), like every other op. A copy onto itself goes.
      std::vector<mlir::memref::CopyOp> copies;
      getOperation()->walk([&](mlir::memref::CopyOp op) { copies.push_back(op); });
      for (mlir::memref::CopyOp copy : copies) {
        rewriter.setInsertionPoint(copy);
        if (copy.getSource() != copy.getTarget()) {
          auto linalg_copy = mlir::linalg::CopyOp::create(rewriter, copy.getLoc(), copy.getSource(),
                                                          copy.getTarget());
          if (mlir::failed(mlir::linalg::generalizeNamedOp(rewriter, linalg_copy))) {
            copy.emitOpError("could not become a loop nest");
            return signalPassFailure();
          }
        }
        rewriter.eraseOp(copy);
      }
      // A fill of a rank-0 buffer (a gradient's seed) becomes a generic, to get its one loop below.
      std::vector<mlir::linalg::FillOp> fills;
      getOperation()->walk([&](mlir::linalg::FillOp op) {
        if (op.getNumLoops() == 0 && op.hasPureBufferSemantics()) fills.push_back(op);
      });
      for (mlir::linalg::FillOp fill : fills) {
        rewriter.setInsertionPoint(fill);
        if (mlir::failed(mlir::linalg::generalizeNamedOp(rewriter, fill))) {
          fill.emitOpError("could not be generalized");
          return signalPassFailure();
        }
      }
    }
    std::vector<mlir::linalg::GenericOp> ops;
    getOperation()->walk([&](mlir::linalg::GenericOp op) { ops.push_back(op); });
    for (mlir::linalg::GenericOp op : ops) {
      std::vector<unsigned> order;  // new loop i is old loop order[i]
      if (thread_per_element && op.getNumLoops() == 0 && op.hasPureBufferSemantics()) {
        GiveOneLoop(rewriter, op);
        continue;
      }
      if (thread_per_element) {
        order = ParallelFirst(op);
        if (order.empty()) continue;
      } else {
        const int p = UnitStrideLoop(op);
        if (p < 0) continue;
        for (unsigned l = 0; l < op.getNumLoops(); ++l) {
          if (static_cast<int>(l) != p) order.push_back(l);
        }
        order.push_back(p);
      }
      rewriter.setInsertionPoint(op);
      if (mlir::failed(mlir::linalg::interchangeGenericOp(rewriter, op, order))) {
        op.emitOpError("could not interchange its loops");
        return signalPassFailure();
      }
    }
  }
};

}  // namespace
}  // namespace kiln
