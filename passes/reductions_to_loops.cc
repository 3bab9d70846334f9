// kiln-reductions-to-loops: see passes/passes.td.
#include <vector>

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_REDUCTIONSTOLOOPSPASS
#include "passes/passes.h.inc"

namespace {

// Parallel loops, then at least one reduction loop, one result buffer, static loop ranges.
bool Eligible(mlir::linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0) return false;
  bool in_reductions = false;
  for (mlir::utils::IteratorType t : op.getIteratorTypesArray()) {
    if (t == mlir::utils::IteratorType::reduction) {
      in_reductions = true;
    } else if (in_reductions) {
      return false;  // a parallel loop inside the reductions (kiln-interchange-loops made it so)
    }
  }
  for (int64_t r : op.getStaticLoopRanges()) {
    if (mlir::ShapedType::isDynamic(r)) return false;
  }
  return true;
}

// The indices `map` gives for loop positions `ivs`.
llvm::SmallVector<mlir::Value> Indices(mlir::OpBuilder& b, mlir::Location loc, mlir::AffineMap map,
                                       mlir::ValueRange ivs) {
  llvm::SmallVector<mlir::Value> indices;
  for (mlir::AffineExpr e : map.getResults()) {
    if (auto dim = mlir::dyn_cast<mlir::AffineDimExpr>(e)) {
      indices.push_back(ivs[dim.getPosition()]);
    } else {
      indices.push_back(mlir::affine::AffineApplyOp::create(
          b, loc, mlir::AffineMap::get(map.getNumDims(), 0, e), ivs));
    }
  }
  return indices;
}

void Lower(mlir::linalg::GenericOp op) {
  mlir::OpBuilder b(op);
  const mlir::Location loc = op.getLoc();
  const llvm::SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  const unsigned num_parallel = op.getNumParallelLoops();
  auto index = [&](int64_t v) -> mlir::Value { return mlir::arith::ConstantIndexOp::create(b, loc, v); };
  mlir::Value zero = index(0), one = index(1);
  llvm::SmallVector<mlir::Value> bounds;  // made here, above every loop that uses them
  for (int64_t r : ranges) bounds.push_back(index(r));
  llvm::SmallVector<mlir::Value> ivs;

  // The reductions for the current position of the parallel loops: the result element is loaded
  // once, carried through the reduction loops as a value, and stored once.
  auto reduce = [&](mlir::OpBuilder& pb) {
    mlir::OpOperand* init = op.getDpsInitOperand(0);
    mlir::AffineMap init_map = op.getMatchingIndexingMap(init);
    llvm::SmallVector<mlir::Value> parallel_ivs(ivs);
    // Reduction loops are not in init_map; any value stands in for them here.
    llvm::SmallVector<mlir::Value> padded(parallel_ivs);
    while (padded.size() < ranges.size()) padded.push_back(zero);
    llvm::SmallVector<mlir::Value> at = Indices(pb, loc, init_map, padded);
    mlir::Value start = mlir::memref::LoadOp::create(pb, loc, init->get(), at);
    std::function<mlir::Value(mlir::OpBuilder&, unsigned, mlir::Value)> loop =
        [&](mlir::OpBuilder& lb, unsigned d, mlir::Value acc) -> mlir::Value {
      if (d == ranges.size()) {
        // The body, with each input element loaded at its position and the result as `acc`.
        mlir::IRMapping mapping;
        mlir::Block& body = op.getRegion().front();
        for (mlir::OpOperand* in : op.getDpsInputOperands()) {
          mlir::Value arg = body.getArgument(in->getOperandNumber());
          if (!mlir::isa<mlir::MemRefType>(in->get().getType())) {
            mapping.map(arg, in->get());
            continue;
          }
          mapping.map(arg, mlir::memref::LoadOp::create(lb, loc, in->get(),
                                                        Indices(lb, loc, op.getMatchingIndexingMap(in), ivs)));
        }
        mapping.map(body.getArgument(init->getOperandNumber()), acc);
        for (mlir::Operation& inner : body.without_terminator()) {
          if (auto idx = mlir::dyn_cast<mlir::linalg::IndexOp>(inner)) {
            mapping.map(idx.getResult(), ivs[idx.getDim()]);
            continue;
          }
          lb.clone(inner, mapping);
        }
        return mapping.lookupOrDefault(body.getTerminator()->getOperand(0));
      }
      auto for_op = mlir::scf::ForOp::create(lb, loc, zero, bounds[d], one, mlir::ValueRange{acc});
      mlir::OpBuilder fb = mlir::OpBuilder::atBlockBegin(for_op.getBody());
      ivs.push_back(for_op.getInductionVar());
      mlir::Value next = loop(fb, d + 1, for_op.getRegionIterArgs()[0]);
      ivs.pop_back();
      mlir::scf::YieldOp::create(fb, loc, next);
      return for_op.getResult(0);
    };
    mlir::Value result = loop(pb, num_parallel, start);
    mlir::memref::StoreOp::create(pb, loc, result, init->get(), at);
  };

  if (num_parallel == 0) {
    // A reduction to one value still runs inside a (one-iteration) parallel loop: on a GPU that
    // loop is what becomes a kernel.
    auto single = mlir::scf::ParallelOp::create(b, loc, mlir::ValueRange{zero}, mlir::ValueRange{one},
                                                mlir::ValueRange{one});
    mlir::OpBuilder sb(single.getBody()->getTerminator());
    reduce(sb);
  } else {
    llvm::SmallVector<mlir::Value> lbs(num_parallel, zero), steps(num_parallel, one),
        ubs(bounds.begin(), bounds.begin() + num_parallel);
    auto parallel = mlir::scf::ParallelOp::create(b, loc, lbs, ubs, steps);
    mlir::OpBuilder pb(parallel.getBody()->getTerminator());
    for (mlir::Value iv : parallel.getInductionVars()) ivs.push_back(iv);
    reduce(pb);
  }
  op->erase();
}

struct ReductionsToLoopsPass : public impl::ReductionsToLoopsPassBase<ReductionsToLoopsPass> {
  void runOnOperation() override {
    std::vector<mlir::linalg::GenericOp> ops;
    getOperation()->walk([&](mlir::linalg::GenericOp op) {
      if (Eligible(op)) ops.push_back(op);
    });
    for (mlir::linalg::GenericOp op : ops) Lower(op);
  }
};

}  // namespace
}  // namespace kiln
