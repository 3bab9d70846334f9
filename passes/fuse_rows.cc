// kiln-fuse-rows: see passes/passes.td.
#include <algorithm>
#include <vector>

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_FUSEROWSPASS
#include "passes/passes.h.inc"

namespace {

// A statically shaped buffer with the identity (row-major, dense) layout.
bool Dense(mlir::Type type) {
  auto memref = mlir::dyn_cast<mlir::MemRefType>(type);
  return memref && memref.hasStaticShape() && memref.getLayout().isIdentity() &&
         memref.getRank() > 0;
}

// The buffer `v` is a view of (through reshapes that keep dim 0, so row r of `v` is row r of the
// result), or null when `v` is some other kind of view.
mlir::Value RowRoot(mlir::Value v) {
  while (mlir::Operation* def = v.getDefiningOp()) {
    if (!mlir::isa<mlir::memref::ReshapeOp, mlir::memref::ExpandShapeOp,
                   mlir::memref::CollapseShapeOp>(def)) {
      break;
    }
    mlir::Value source = def->getOperand(0);
    if (!Dense(v.getType()) || !Dense(source.getType())) return {};
    auto a = mlir::cast<mlir::MemRefType>(v.getType()),
         b = mlir::cast<mlir::MemRefType>(source.getType());
    if (a.getDimSize(0) != b.getDimSize(0) || a.getNumElements() != b.getNumElements()) return {};
    v = source;
  }
  if (mlir::isa<mlir::BlockArgument>(v) || v.getDefiningOp<mlir::memref::AllocOp>() ||
      v.getDefiningOp<mlir::memref::GetGlobalOp>()) {
    return v;
  }
  return {};
}

// How a loop nest uses loop 0 (d0) on each buffer operand.
struct Access {
  mlir::Value root;
  bool row;      // read or written at row d0 (map result 0 is d0, and d0 appears nowhere else)
  bool written;  // an init (out) operand
};

// A linalg op on buffers whose loop 0 is parallel with extent `rows`, each buffer operand either
// indexed by d0 exactly in its first dim or not by d0 at all, and whose body touches no memory.
// Empty when it is not such an op.
std::optional<std::vector<Access>> RowAccesses(mlir::linalg::LinalgOp op, int64_t& rows) {
  if (!op.hasPureBufferSemantics() || op.getNumLoops() == 0 ||
      op.getIteratorTypesArray()[0] != mlir::utils::IteratorType::parallel) {
    return std::nullopt;
  }
  // A body that reads memory itself (a gather's loads at computed positions) may read any row.
  bool reads_memory = false;
  op->getRegion(0).walk([&](mlir::Operation* inner) {
    if (!mlir::isa<mlir::linalg::YieldOp>(inner) && !mlir::isPure(inner)) reads_memory = true;
  });
  if (reads_memory) return std::nullopt;
  llvm::SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (mlir::ShapedType::isDynamic(ranges[0]) || ranges[0] < 2) return std::nullopt;
  rows = ranges[0];
  std::vector<Access> accesses;
  for (mlir::OpOperand& operand : op->getOpOperands()) {
    if (!mlir::isa<mlir::MemRefType>(operand.get().getType())) continue;  // a scalar
    if (!Dense(operand.get().getType())) return std::nullopt;
    mlir::AffineMap map = op.getMatchingIndexingMap(&operand);
    int uses = 0;
    for (mlir::AffineExpr e : map.getResults()) uses += e.isFunctionOfDim(0);
    const bool row = uses == 1 && map.getNumResults() > 0 &&
                     map.getResult(0) == mlir::getAffineDimExpr(0, op.getContext());
    if (uses > 0 && !row) return std::nullopt;
    mlir::Value root = RowRoot(operand.get());
    if (!root) return std::nullopt;
    accesses.push_back({root, row, op.isDpsInit(&operand)});
  }
  return accesses;
}

// Ops that may sit between fused loop nests and move above them: they touch no buffer contents.
bool Movable(mlir::Operation* op) {
  if (mlir::isa<mlir::memref::AllocOp, mlir::memref::GetGlobalOp, mlir::memref::ReshapeOp,
                mlir::memref::ExpandShapeOp, mlir::memref::CollapseShapeOp>(op)) {
    return true;
  }
  return op->getNumRegions() == 0 && mlir::isPure(op);
}

struct Group {
  std::vector<mlir::linalg::LinalgOp> nests;
  std::vector<std::vector<Access>> accesses;
  int64_t rows = 0;

  // Whether row r of every nest may run right after row r of the previous ones: every buffer some
  // nest writes is only ever touched at row d0 (so iteration r reads and writes row r only).
  bool Fusable() const {
    llvm::SmallPtrSet<void*, 8> written;
    for (const auto& list : accesses) {
      for (const Access& a : list) {
        if (a.written) written.insert(a.root.getAsOpaquePointer());
      }
    }
    for (const auto& list : accesses) {
      for (const Access& a : list) {
        if (written.contains(a.root.getAsOpaquePointer()) &&
            (!a.row || mlir::cast<mlir::MemRefType>(a.root.getType()).getDimSize(0) != rows)) {
          return false;
        }
      }
    }
    return true;
  }
};

struct FuseRowsPass : public impl::FuseRowsPassBase<FuseRowsPass> {
  using FuseRowsPassBase::FuseRowsPassBase;

  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (func.isDeclaration()) return;
    std::vector<Group> groups;
    Group current;
    auto close = [&] {
      if (current.nests.size() >= 2) groups.push_back(current);
      current = Group();
    };
    for (mlir::Operation& op : llvm::make_early_inc_range(func.getBody().front())) {
      auto nest = mlir::dyn_cast<mlir::linalg::LinalgOp>(&op);
      int64_t rows = 0;
      std::optional<std::vector<Access>> accesses = nest ? RowAccesses(nest, rows) : std::nullopt;
      if (!accesses) {
        if (!Movable(&op)) close();
        continue;
      }
      if (!current.nests.empty() && rows == current.rows) {
        Group extended = current;
        extended.nests.push_back(nest);
        extended.accesses.push_back(*accesses);
        if (extended.Fusable()) {
          current = std::move(extended);
          continue;
        }
      }
      close();
      current.rows = rows;
      current.nests.push_back(nest);
      current.accesses.push_back(*accesses);
    }
    close();
    for (Group& g : groups) Fuse(g);
  }

  // One scf.parallel over blocks of rows; each nest runs on its operands' rows of the block.
  void Fuse(Group& g) {
    mlir::Operation* first = g.nests.front();
    // What sits between the nests (allocations, views, constants) moves above the first.
    for (mlir::Operation* op = first->getNextNode(); op != g.nests.back().getOperation();) {
      mlir::Operation* next = op->getNextNode();
      if (!mlir::isa<mlir::linalg::LinalgOp>(op)) op->moveBefore(first);
      op = next;
    }
    // Rows per block: about `tileBytes` of the widest operand, and a divisor of the row count.
    int64_t row_bytes = 1;
    for (mlir::linalg::LinalgOp nest : g.nests) {
      for (mlir::Value v : nest->getOperands()) {
        auto type = mlir::dyn_cast<mlir::MemRefType>(v.getType());
        if (!type) continue;
        const int64_t bytes = type.getNumElements() / type.getDimSize(0) *
                              std::max<int64_t>(1, type.getElementTypeBitWidth() / 8);
        row_bytes = std::max(row_bytes, bytes);
      }
    }
    int64_t block = std::clamp<int64_t>(tileBytes / row_bytes, 1, g.rows);
    while (g.rows % block != 0) --block;

    mlir::OpBuilder b(first);
    const mlir::Location loc = first->getLoc();
    auto index = [&](int64_t v) -> mlir::Value {
      return mlir::arith::ConstantIndexOp::create(b, loc, v);
    };
    auto loop = mlir::scf::ParallelOp::create(b, loc, mlir::ValueRange{index(0)},
                                              mlir::ValueRange{index(g.rows)},
                                              mlir::ValueRange{index(block)});
    b.setInsertionPoint(loop.getBody()->getTerminator());
    mlir::Value row = loop.getInductionVars()[0];
    for (size_t n = 0; n < g.nests.size(); ++n) {
      mlir::linalg::LinalgOp nest = g.nests[n];
      std::vector<mlir::Value> operands;
      for (mlir::OpOperand& operand : nest->getOpOperands()) {
        auto type = mlir::dyn_cast<mlir::MemRefType>(operand.get().getType());
        if (!type || !nest.getMatchingIndexingMap(&operand).isFunctionOfDim(0)) {
          operands.push_back(operand.get());
          continue;
        }
        llvm::SmallVector<mlir::OpFoldResult> offsets(type.getRank(), b.getIndexAttr(0));
        llvm::SmallVector<mlir::OpFoldResult> sizes, strides(type.getRank(), b.getIndexAttr(1));
        offsets[0] = row;
        for (int64_t d : type.getShape()) sizes.push_back(b.getIndexAttr(d));
        sizes[0] = b.getIndexAttr(block);
        operands.push_back(mlir::memref::SubViewOp::create(b, nest.getLoc(), operand.get(), offsets,
                                                           sizes, strides));
      }
      b.clone(*nest)->setOperands(operands);
      nest->erase();
    }
  }
};

}  // namespace
}  // namespace kiln
