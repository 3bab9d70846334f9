// kiln-approximate-math: see passes/passes.td.
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_APPROXIMATEMATHPASS
#include "passes/passes.h.inc"

namespace {

// erf(x) ~ x * P(x^2) / Q(x^2) with x clamped to [-4, 4] (erf(4) rounds to 1 in f32): one interval,
// so no selects between pieces. Weighted least-squares fit (Lawson iterations) on [0, 4] in
// float64; max abs error 5.7e-8 in exact arithmetic, 4.4e-7 (about 10 ULP near |erf| = 1) evaluated
// in f32.
constexpr float kP[] = {1.128378684e+00f, 2.138396434e-01f,  5.241971468e-02f, 4.288473949e-03f,
                        1.554158858e-04f, -1.989695867e-06f, 1.921689870e-08f};
constexpr float kQ[] = {1.0f, 5.228381647e-01f, 1.207562475e-01f, 1.554210381e-02f,
                        1.096885679e-03f};

struct ErfF32 : public mlir::OpRewritePattern<mlir::math::ErfOp> {
  using OpRewritePattern::OpRewritePattern;

  mlir::LogicalResult matchAndRewrite(mlir::math::ErfOp op,
                                      mlir::PatternRewriter& rewriter) const override {
    const mlir::Type type = op.getType();
    if (!mlir::getElementTypeOrSelf(type).isF32()) return mlir::failure();
    const mlir::Location loc = op.getLoc();
    auto constant = [&](float v) -> mlir::Value {
      auto shaped = llvm::dyn_cast<mlir::ShapedType>(type);
      const mlir::TypedAttr attr = shaped ? mlir::TypedAttr(mlir::DenseElementsAttr::get(shaped, v))
                                          : mlir::TypedAttr(rewriter.getF32FloatAttr(v));
      return mlir::arith::ConstantOp::create(rewriter, loc, attr);
    };
    auto clamp = [&](mlir::Value v, float bound) -> mlir::Value {
      v = mlir::arith::MinimumFOp::create(rewriter, loc, v, constant(bound));
      return mlir::arith::MaximumFOp::create(rewriter, loc, v, constant(-bound));
    };
    auto horner = [&](mlir::Value t, auto& coefficients) {
      const int n = std::size(coefficients);
      mlir::Value acc = constant(coefficients[n - 1]);
      for (int i = n - 2; i >= 0; --i)
        acc = mlir::math::FmaOp::create(rewriter, loc, acc, t, constant(coefficients[i]));
      return acc;
    };
    const mlir::Value x = clamp(op.getOperand(), 4.0f);
    const mlir::Value t = mlir::arith::MulFOp::create(rewriter, loc, x, x);
    const mlir::Value num = mlir::arith::MulFOp::create(rewriter, loc, x, horner(t, kP));
    const mlir::Value y = mlir::arith::DivFOp::create(rewriter, loc, num, horner(t, kQ));
    // Rounding can overshoot 1 by a few ULP; erf's range is [-1, 1].
    rewriter.replaceOp(op, clamp(y, 1.0f));
    return mlir::success();
  }
};

struct ApproximateMathPass : public impl::ApproximateMathPassBase<ApproximateMathPass> {
  void runOnOperation() override {
    mlir::RewritePatternSet patterns(&getContext());
    patterns.add<ErfF32>(&getContext());
    // MLIR's f32 approximations of the others (range reduction + polynomial, a few ULP; they keep
    // overflow, underflow, NaN and infinities): exp (softmax), log, tanh, log1p, expm1.
    mlir::populateMathPolynomialApproximationPatterns(patterns, [](llvm::StringRef name) {
      return name == mlir::math::ExpOp::getOperationName() ||
             name == mlir::math::LogOp::getOperationName() ||
             name == mlir::math::TanhOp::getOperationName() ||
             name == mlir::math::Log1pOp::getOperationName() ||
             name == mlir::math::ExpM1Op::getOperationName();
    });
    if (mlir::failed(mlir::applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

}  // namespace
}  // namespace kiln
