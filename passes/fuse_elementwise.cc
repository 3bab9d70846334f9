// kiln-fuse-elementwise: see passes/passes.td.
#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Tensor/Transforms/Transforms.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_FUSEELEMENTWISEPASS
#include "passes/passes.h.inc"

namespace {

// Recomputing costs little: a short body of arithmetic, no transcendental math, no reduction.
bool CheapToRecompute(mlir::Operation* producer) {
  auto generic = mlir::dyn_cast<mlir::linalg::GenericOp>(producer);
  if (!generic || generic.getNumReductionLoops() > 0) return false;
  int ops = 0;
  for (mlir::Operation& op : generic.getRegion().front()) {
    if (mlir::isa<mlir::math::MathDialect>(op.getDialect())) return false;
    ++ops;
  }
  constexpr int kMaxCheapOps = 4;  // yield included
  return ops <= kMaxCheapOps;
}

bool ShouldFuse(mlir::OpOperand* fused) {
  mlir::Operation* producer = fused->get().getDefiningOp();
  return producer != nullptr && (producer->hasOneUse() || CheapToRecompute(producer));
}

struct FuseElementwisePass : public impl::FuseElementwisePassBase<FuseElementwisePass> {
  void runOnOperation() override {
    mlir::MLIRContext* context = &getContext();
    mlir::RewritePatternSet patterns(context);
    mlir::linalg::populateElementwiseOpsFusionPatterns(patterns, ShouldFuse);
    // Reshapes between elementwise ops would stop fusion: move them to the chain's ends.
    mlir::linalg::populateFoldReshapeOpsByExpansionPatterns(patterns, ShouldFuse);
    mlir::tensor::populateBubbleUpExpandShapePatterns(patterns);
    mlir::affine::AffineApplyOp::getCanonicalizationPatterns(patterns, context);
    mlir::linalg::GenericOp::getCanonicalizationPatterns(patterns, context);
    mlir::tensor::ExpandShapeOp::getCanonicalizationPatterns(patterns, context);
    mlir::tensor::CollapseShapeOp::getCanonicalizationPatterns(patterns, context);
    context->getLoadedDialect<mlir::linalg::LinalgDialect>()->getCanonicalizationPatterns(patterns);
    // Top-down: visits producers before consumers, which keeps compile time linear in practice.
    if (mlir::failed(
            mlir::applyPatternsGreedily(getOperation(), std::move(patterns),
                                        mlir::GreedyRewriteConfig().setUseTopDownTraversal()))) {
      // Not converging is not an error: the IR is valid, only less fused.
      getOperation()->emitWarning("kiln-fuse-elementwise did not converge");
    }
  }
};

}  // namespace
}  // namespace kiln
