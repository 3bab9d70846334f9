// kiln-simplify: see passes/passes.td.
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_SIMPLIFYPASS
#include "passes/passes.h.inc"

namespace {

// x + 0.0 → x (graph semantics: a zero's sign is not significant).
struct AddZero : public mlir::OpRewritePattern<mlir::arith::AddFOp> {
  using OpRewritePattern::OpRewritePattern;
  mlir::LogicalResult matchAndRewrite(mlir::arith::AddFOp op,
                                      mlir::PatternRewriter& rewriter) const override {
    for (int i = 0; i < 2; ++i) {
      if (mlir::matchPattern(op->getOperand(i), mlir::m_AnyZeroFloat())) {
        rewriter.replaceOp(op, op->getOperand(1 - i));
        return mlir::success();
      }
    }
    return rewriter.notifyMatchFailure(op, "no zero operand");
  }
};

// reshape(reshape(x)) → reshape(x): only the final shape matters for row-major data; a reshape to
// its source's own shape is its source.
struct ReshapeChain : public mlir::OpRewritePattern<mlir::tensor::ReshapeOp> {
  using OpRewritePattern::OpRewritePattern;
  mlir::LogicalResult matchAndRewrite(mlir::tensor::ReshapeOp op,
                                      mlir::PatternRewriter& rewriter) const override {
    if (op.getSource().getType() == op.getType()) {
      rewriter.replaceOp(op, op.getSource());
      return mlir::success();
    }
    auto inner = op.getSource().getDefiningOp<mlir::tensor::ReshapeOp>();
    if (!inner) return rewriter.notifyMatchFailure(op, "source is not a reshape");
    if (inner.getSource().getType() == op.getType()) {
      rewriter.replaceOp(op, inner.getSource());
    } else {
      rewriter.modifyOpInPlace(op, [&] { op.getSourceMutable().assign(inner.getSource()); });
    }
    return mlir::success();
  }
};

// transpose(transpose(x, p), q) → transpose(x, p∘q), or x when that is the identity.
struct TransposeChain : public mlir::OpRewritePattern<mlir::linalg::TransposeOp> {
  using OpRewritePattern::OpRewritePattern;
  mlir::LogicalResult matchAndRewrite(mlir::linalg::TransposeOp op,
                                      mlir::PatternRewriter& rewriter) const override {
    if (!op.hasPureTensorSemantics()) return rewriter.notifyMatchFailure(op, "not on tensors");
    auto inner = op.getInput().getDefiningOp<mlir::linalg::TransposeOp>();
    if (!inner || !inner.hasPureTensorSemantics())
      return rewriter.notifyMatchFailure(op, "input is not a transpose");
    llvm::ArrayRef<int64_t> p = inner.getPermutation(), q = op.getPermutation();
    // result[i] = x[p[q[i]]]
    llvm::SmallVector<int64_t> composed;
    bool identity = true;
    for (size_t i = 0; i < q.size(); ++i) {
      composed.push_back(p[q[i]]);
      identity &= composed.back() == static_cast<int64_t>(i);
    }
    if (identity) {
      rewriter.replaceOp(op, inner.getInput());
    } else {
      rewriter.replaceOpWithNewOp<mlir::linalg::TransposeOp>(op, inner.getInput(), op.getInit(),
                                                             composed);
    }
    return mlir::success();
  }
};

class SimplifyPass : public impl::SimplifyPassBase<SimplifyPass> {
 public:
  void runOnOperation() override {
    mlir::MLIRContext* ctx = &getContext();
    mlir::RewritePatternSet patterns(ctx);
    for (mlir::Dialect* dialect : ctx->getLoadedDialects())
      dialect->getCanonicalizationPatterns(patterns);
    for (mlir::RegisteredOperationName op : ctx->getRegisteredOperations()) {
      op.getCanonicalizationPatterns(patterns, ctx);
    }
    patterns.add<AddZero, ReshapeChain, TransposeChain>(ctx);
    if (mlir::failed(mlir::applyPatternsGreedily(getOperation(), std::move(patterns)))) {
      signalPassFailure();
    }
  }
};

}  // namespace
}  // namespace kiln
