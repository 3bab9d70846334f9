// kiln-reductions-to-loops: see passes/passes.td.
#include <vector>

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_REDUCTIONSTOLOOPSPASS
#include "passes/passes.h.inc"

namespace {

// Parallel loops, then at least one reduction loop, one result buffer, static loop ranges.
bool Eligible(mlir::linalg::GenericOp op) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInits() != 1 || op.getNumReductionLoops() == 0)
    return false;
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

// The buffer `v` is a view of (or `v` itself). A memref.view is a buffer of its own: after
// kiln-plan-memory each is one buffer placed in the arena, apart from every buffer live with it.
mlir::Value Root(mlir::Value v) {
  while (auto view = v.getDefiningOp<mlir::ViewLikeOpInterface>()) {
    if (mlir::isa<mlir::memref::ViewOp>(view.getOperation())) break;
    v = view.getViewSource();
  }
  return v;
}

// Whether `a` and `b` are views of the same buffer (two memref.views at one offset of the arena
// are).
bool SameBuffer(mlir::Value a, mlir::Value b) {
  a = Root(a), b = Root(b);
  if (a == b) return true;
  auto va = a.getDefiningOp<mlir::memref::ViewOp>(), vb = b.getDefiningOp<mlir::memref::ViewOp>();
  if (!va || !vb || va.getSource() != vb.getSource()) return false;
  std::optional<int64_t> oa = mlir::getConstantIntValue(va.getByteShift()),
                         ob = mlir::getConstantIntValue(vb.getByteShift());
  return !oa || !ob || *oa == *ob;
}

// Whether `v` is a view of all of its root buffer (a reshape of it, say).
bool Whole(mlir::Value v) {
  auto type = mlir::dyn_cast<mlir::MemRefType>(v.getType());
  auto root = mlir::dyn_cast<mlir::MemRefType>(Root(v).getType());
  return type && root && type.hasStaticShape() && root.hasStaticShape() &&
         type.getNumElements() == root.getNumElements();
}

// The linalg.fill that sets `op`'s whole result buffer just before it (with only side-effect-free
// ops in between, such as views), when `op` writes every element of that buffer and reads none of
// it as an input: its value can start the accumulation instead, and the fill can go.
mlir::linalg::FillOp FillBefore(mlir::linalg::GenericOp op) {
  mlir::Value init = op.getDpsInitOperand(0)->get();
  mlir::AffineMap map = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  const auto type = mlir::dyn_cast<mlir::MemRefType>(init.getType());
  if (!type || !map.isProjectedPermutation() || map.getNumResults() != type.getRank() ||
      !Whole(init))
    return nullptr;
  for (mlir::OpOperand* in : op.getDpsInputOperands()) {
    if (mlir::isa<mlir::MemRefType>(in->get().getType()) && SameBuffer(in->get(), init))
      return nullptr;
  }
  for (mlir::Operation* prev = op->getPrevNode(); prev != nullptr; prev = prev->getPrevNode()) {
    auto fill = mlir::dyn_cast<mlir::linalg::FillOp>(prev);
    if (fill && fill.hasPureBufferSemantics()) {
      mlir::Value target = fill.getDpsInitOperand(0)->get();
      if (Root(target) == Root(init)) return Whole(target) ? fill : nullptr;
      if (SameBuffer(target, init)) return nullptr;  // the same memory through another view
    }
    if (!mlir::isMemoryEffectFree(prev)) return nullptr;
  }
  return nullptr;
}

void Lower(mlir::linalg::GenericOp op) {
  mlir::OpBuilder b(op);
  const mlir::Location loc = op.getLoc();
  const llvm::SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  const unsigned num_parallel = op.getNumParallelLoops();
  auto index = [&](int64_t v) -> mlir::Value {
    return mlir::arith::ConstantIndexOp::create(b, loc, v);
  };
  mlir::Value zero = index(0), one = index(1);
  llvm::SmallVector<mlir::Value> bounds;  // made here, above every loop that uses them
  for (int64_t r : ranges) bounds.push_back(index(r));
  llvm::SmallVector<mlir::Value> ivs;
  // A fill of the result just before: its value starts each accumulation (one pass over memory
  // fewer; on a GPU, one kernel fewer).
  mlir::linalg::FillOp fill = FillBefore(op);
  mlir::Value fill_value = fill ? fill.getDpsInputOperand(0)->get() : mlir::Value();

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
    mlir::Value start = fill_value
                            ? fill_value
                            : mlir::memref::LoadOp::create(pb, loc, init->get(), at).getResult();
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
          mapping.map(
              arg, mlir::memref::LoadOp::create(
                       lb, loc, in->get(), Indices(lb, loc, op.getMatchingIndexingMap(in), ivs)));
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
    auto single = mlir::scf::ParallelOp::create(b, loc, mlir::ValueRange{zero},
                                                mlir::ValueRange{one}, mlir::ValueRange{one});
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
  if (fill) fill->erase();
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
