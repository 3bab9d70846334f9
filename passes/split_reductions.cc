// kiln-split-reductions: see passes/passes.td.
#include <numeric>
#include <vector>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/IRMapping.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_SPLITREDUCTIONSPASS
#include "passes/passes.h.inc"

namespace {

// The op that folds each element into the result (the result's block argument is one of its two
// operands and used nowhere else), when it has a neutral element (sum, product, max, min, ...).
mlir::Operation* Combiner(mlir::linalg::GenericOp op) {
  mlir::Block& body = op.getRegion().front();
  mlir::BlockArgument acc = body.getArguments().back();
  auto yield = mlir::cast<mlir::linalg::YieldOp>(body.getTerminator());
  mlir::Operation* combiner =
      yield.getNumOperands() == 1 ? yield.getOperand(0).getDefiningOp() : nullptr;
  if (combiner == nullptr || combiner->getNumOperands() != 2 || !acc.hasOneUse() ||
      (combiner->getOperand(0) != acc && combiner->getOperand(1) != acc) ||
      combiner->getOperand(0) == combiner->getOperand(1) ||
      !mlir::arith::getNeutralElement(combiner)) {
    return nullptr;
  }
  return combiner;
}

// Position of `dim` in `map`'s results when it appears exactly once there, alone; -1 when it does
// not appear; -2 when it appears inside an expression or twice.
int PurePosition(mlir::AffineMap map, unsigned dim) {
  int found = -1;
  for (unsigned i = 0; i < map.getNumResults(); ++i) {
    mlir::AffineExpr e = map.getResult(i);
    if (auto d = mlir::dyn_cast<mlir::AffineDimExpr>(e); d && d.getPosition() == dim) {
      if (found != -1) return -2;
      found = static_cast<int>(i);
    } else if (e.isFunctionOfDim(dim)) {
      return -2;
    }
  }
  return found;
}

struct SplitReductionsPass : public impl::SplitReductionsPassBase<SplitReductionsPass> {
  using SplitReductionsPassBase::SplitReductionsPassBase;

  void runOnOperation() override {
    llvm::SmallVector<mlir::linalg::GenericOp> ops;
    getOperation()->walk([&](mlir::linalg::GenericOp op) { ops.push_back(op); });
    for (mlir::linalg::GenericOp op : ops) Split(op);
  }

  void Split(mlir::linalg::GenericOp op) {
    if (!op.hasPureTensorSemantics() || op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
      return;
    mlir::Operation* combiner = Combiner(op);
    if (combiner == nullptr) return;
    const llvm::SmallVector<int64_t> ranges = op.getStaticLoopRanges();
    int64_t parallel = 1, reduced = 1;
    for (unsigned d = 0; d < ranges.size(); ++d) {
      if (mlir::ShapedType::isDynamic(ranges[d])) return;
      ((op.getIteratorTypesArray()[d] == mlir::utils::IteratorType::reduction) ? reduced
                                                                               : parallel) *=
          ranges[d];
    }
    if (parallel >= threads || reduced < std::max<int64_t>(min_length, 2 * min_inner)) return;
    // The reduction dim to split and the number of parts: the most parts (a divisor of the dim's
    // range) up to what fills `threads` while each part keeps min_inner elements to fold.
    const int64_t most = std::min<int64_t>(threads / parallel, reduced / min_inner);
    int64_t parts = 1;
    unsigned dim = 0;
    for (unsigned d = 0; d < ranges.size(); ++d) {
      if (!(op.getIteratorTypesArray()[d] == mlir::utils::IteratorType::reduction)) continue;
      bool pure = true;
      for (mlir::OpOperand* in : op.getDpsInputOperands())
        pure &= PurePosition(op.getMatchingIndexingMap(in), d) != -2;
      if (!pure) continue;
      for (int64_t r = std::min(most, ranges[d]); r > parts; --r) {
        if (ranges[d] % r == 0) {
          parts = r, dim = d;
          break;
        }
      }
    }
    if (parts < 2) return;

    mlir::OpBuilder b(op);
    const mlir::Location loc = op.getLoc();
    mlir::MLIRContext* ctx = b.getContext();
    const unsigned num_loops = ranges.size(), part = num_loops;  // the new loop: which part
    const int64_t inner = ranges[dim] / parts;
    // Stage 1: the op with one more parallel loop over the parts; inputs read along `dim` see it
    // as (part, dim), through an expand_shape.
    llvm::SmallVector<mlir::Value> inputs;
    llvm::SmallVector<mlir::AffineMap> maps;
    for (mlir::OpOperand* in : op.getDpsInputOperands()) {
      mlir::AffineMap map = op.getMatchingIndexingMap(in);
      llvm::SmallVector<mlir::AffineExpr> results(map.getResults());
      mlir::Value value = in->get();
      const int at = PurePosition(map, dim);
      if (at >= 0) {
        auto type = mlir::cast<mlir::RankedTensorType>(value.getType());
        llvm::SmallVector<int64_t> shape(type.getShape());
        llvm::SmallVector<mlir::ReassociationIndices> groups;
        for (int i = 0, j = 0; i < type.getRank(); ++i) {
          groups.push_back(i == at ? mlir::ReassociationIndices{j, j + 1}
                                   : mlir::ReassociationIndices{j});
          j += i == at ? 2 : 1;
        }
        shape[at] = inner;
        shape.insert(shape.begin() + at, parts);
        value = mlir::tensor::ExpandShapeOp::create(
            b, loc, mlir::RankedTensorType::get(shape, type.getElementType()), value, groups);
        results.insert(results.begin() + at, mlir::getAffineDimExpr(part, ctx));
      }
      inputs.push_back(value);
      maps.push_back(mlir::AffineMap::get(num_loops + 1, 0, results, ctx));
    }
    mlir::AffineMap out_map = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
    llvm::SmallVector<mlir::AffineExpr> out_results(out_map.getResults());
    out_results.push_back(mlir::getAffineDimExpr(part, ctx));
    maps.push_back(mlir::AffineMap::get(num_loops + 1, 0, out_results, ctx));
    auto result_type = mlir::cast<mlir::RankedTensorType>(op.getResult(0).getType());
    llvm::SmallVector<int64_t> partial_shape(result_type.getShape());
    partial_shape.push_back(parts);
    mlir::Value identity =
        mlir::arith::ConstantOp::create(b, loc, *mlir::arith::getNeutralElement(combiner));
    mlir::Value empty =
        mlir::tensor::EmptyOp::create(b, loc, partial_shape, result_type.getElementType());
    mlir::Value init = mlir::linalg::FillOp::create(b, loc, identity, empty).getResult(0);
    llvm::SmallVector<mlir::utils::IteratorType> iterators = op.getIteratorTypesArray();
    iterators.push_back(mlir::utils::IteratorType::parallel);
    auto partials = mlir::linalg::GenericOp::create(
        b, loc, init.getType(), inputs, mlir::ValueRange{init}, maps, iterators,
        [](mlir::OpBuilder&, mlir::Location, mlir::ValueRange) {});
    partials.getRegion().front().erase();
    mlir::IRMapping none;
    op.getRegion().cloneInto(&partials.getRegion(), none);
    // The body's own view of the split loop's position (e.g. a fused padding's bounds check) is
    // part * inner + its position within the part.
    partials.getRegion().walk([&](mlir::linalg::IndexOp index) {
      if (index.getDim() != dim) return;
      mlir::OpBuilder ib(index);
      ib.setInsertionPointAfter(index);
      mlir::Value which = mlir::linalg::IndexOp::create(ib, loc, part);
      mlir::Value offset = mlir::arith::MulIOp::create(
          ib, loc, which, mlir::arith::ConstantIndexOp::create(ib, loc, inner));
      mlir::Value position = mlir::arith::AddIOp::create(ib, loc, offset, index.getResult());
      index.getResult().replaceAllUsesExcept(
          position, mlir::cast<mlir::arith::AddIOp>(position.getDefiningOp()));
    });
    // Stage 2: fold the parts into the original result (its init included).
    const unsigned rank = result_type.getRank();
    llvm::SmallVector<mlir::AffineExpr> result_dims;
    for (unsigned d = 0; d < rank; ++d) result_dims.push_back(mlir::getAffineDimExpr(d, ctx));
    const mlir::AffineMap fold_maps[] = {mlir::AffineMap::getMultiDimIdentityMap(rank + 1, ctx),
                                         mlir::AffineMap::get(rank + 1, 0, result_dims, ctx)};
    llvm::SmallVector<mlir::utils::IteratorType> fold_iterators(
        rank, mlir::utils::IteratorType::parallel);
    fold_iterators.push_back(mlir::utils::IteratorType::reduction);
    auto fold = mlir::linalg::GenericOp::create(
        b, loc, result_type, mlir::ValueRange{partials.getResult(0)},
        mlir::ValueRange{op.getDpsInitOperand(0)->get()}, fold_maps, fold_iterators,
        [&](mlir::OpBuilder& nb, mlir::Location nloc, mlir::ValueRange args) {
          mlir::Operation* c = nb.clone(*combiner);
          c->setOperands({args[0], args[1]});
          mlir::linalg::YieldOp::create(nb, nloc, c->getResult(0));
        });
    op.getResult(0).replaceAllUsesWith(fold.getResult(0));
    op.erase();
  }
};

}  // namespace
}  // namespace kiln
