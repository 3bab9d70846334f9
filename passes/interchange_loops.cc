// kiln-interchange-loops: see passes/passes.td.
#include <vector>

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
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
      if (map.getResult(r).isFunctionOfDim(p) && !(last_result && map.getResult(r) == last)) return -1;
    }
  }
  return p;
}

struct InterchangeLoopsPass : public impl::InterchangeLoopsPassBase<InterchangeLoopsPass> {
  void runOnOperation() override {
    std::vector<mlir::linalg::GenericOp> ops;
    getOperation()->walk([&](mlir::linalg::GenericOp op) { ops.push_back(op); });
    mlir::IRRewriter rewriter(&getContext());
    for (mlir::linalg::GenericOp op : ops) {
      const int p = UnitStrideLoop(op);
      if (p < 0) continue;
      std::vector<unsigned> order;  // new loop i is old loop order[i]
      for (unsigned l = 0; l < op.getNumLoops(); ++l) {
        if (static_cast<int>(l) != p) order.push_back(l);
      }
      order.push_back(p);
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
