// kiln-plan-memory: see passes/passes.td.
#include <algorithm>
#include <vector>

#include "llvm/ADT/DenseMap.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_PLANMEMORYPASS
#include "passes/passes.h.inc"

namespace {

constexpr int64_t kAlignment = 64;
// Large buffers start at different offsets within a 4 KiB page: loops read one buffer and write
// another at the same index, and when their addresses agree in the low 12 bits every load after a
// store waits on a false dependence (4K aliasing; measured: a ReLU gradient over 6.4 MB buffers ran
// several times slower than its memory traffic allows).
constexpr int64_t kPage = 4096, kLarge = 4 * kPage, kSkewStep = 3 * kAlignment;

struct Buffer {
  mlir::memref::AllocOp alloc;
  int64_t bytes;
  int start, end;      // positions in the entry block, inclusive
  int64_t phase = -1;  // large buffers: where in a page the data starts (offset % kPage)
  int64_t offset = 0;  // of its slot: bytes, plus a page for a large buffer to reach its phase
  int64_t Slot() const { return phase < 0 ? bytes : bytes + kPage; }
  int64_t Start() const {
    return phase < 0 ? offset : offset + ((phase - offset % kPage) % kPage + kPage) % kPage;
  }
  std::vector<mlir::memref::DeallocOp> deallocs;
};

class PlanMemoryPass : public impl::PlanMemoryPassBase<PlanMemoryPass> {
 public:
  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (func.isDeclaration()) return;
    mlir::Block& entry = func.getBody().front();
    llvm::DenseMap<mlir::Operation*, int> position;
    int next = 0;
    for (mlir::Operation& op : entry) position[&op] = next++;

    std::vector<Buffer> buffers;
    bool failed = false;
    int64_t num_large = 0;
    func.walk([&](mlir::memref::AllocOp alloc) {
      mlir::MemRefType type = alloc.getType();
      if (alloc->getBlock() != &entry || !type.hasStaticShape() || !type.getLayout().isIdentity()) {
        alloc.emitOpError(
            "kiln-plan-memory needs static, identity-layout allocations in the entry block");
        failed = true;
        return;
      }
      const int64_t element_bytes = std::max<int64_t>(1, (type.getElementTypeBitWidth() + 7) / 8);
      Buffer b{alloc, type.getNumElements() * element_bytes, position[alloc], position[alloc]};
      if (b.bytes >= kLarge) b.phase = (num_large++ * kSkewStep) % kPage;
      // The buffer lives until the last use of it or of any view of it.
      std::vector<mlir::Value> worklist = {alloc.getResult()};
      while (!worklist.empty()) {
        mlir::Value v = worklist.back();
        worklist.pop_back();
        for (mlir::OpOperand& use : v.getUses()) {
          mlir::Operation* user = use.getOwner();
          if (auto dealloc = mlir::dyn_cast<mlir::memref::DeallocOp>(user)) {
            b.deallocs.push_back(dealloc);
            continue;
          }
          if (auto view = mlir::dyn_cast<mlir::ViewLikeOpInterface>(user)) {
            for (mlir::Value r : user->getResults()) worklist.push_back(r);
          }
          mlir::Operation* top = entry.findAncestorOpInBlock(*user);
          if (top != nullptr) b.end = std::max(b.end, position[top]);
        }
      }
      buffers.push_back(std::move(b));
    });
    if (failed) return signalPassFailure();

    // Greedy first fit, largest buffers first: each goes at the lowest aligned offset that overlaps
    // no placed buffer whose lifetime overlaps its own.
    std::vector<Buffer*> order;
    for (Buffer& b : buffers) order.push_back(&b);
    std::stable_sort(order.begin(), order.end(),
                     [](const Buffer* a, const Buffer* b) { return a->Slot() > b->Slot(); });
    std::vector<Buffer*> placed;
    int64_t arena_bytes = 0;
    for (Buffer* b : order) {
      std::vector<std::pair<int64_t, int64_t>> busy;  // [begin, end) of conflicting placements
      const int64_t slot = b->Slot();
      for (Buffer* p : placed) {
        if (p->start <= b->end && b->start <= p->end)
          busy.emplace_back(p->offset, p->offset + p->Slot());
      }
      std::sort(busy.begin(), busy.end());
      int64_t offset = 0;
      for (const auto& [begin, end] : busy) {
        if (offset + slot <= begin) break;
        offset = std::max(offset, (end + kAlignment - 1) / kAlignment * kAlignment);
      }
      b->offset = offset;
      arena_bytes = std::max(arena_bytes, offset + slot);
      placed.push_back(b);
    }

    // The arena is the function's last argument; allocations become views of it.
    mlir::OpBuilder builder(func.getContext());
    auto arena_type = mlir::MemRefType::get({arena_bytes}, builder.getI8Type());
    if (mlir::failed(func.insertArgument(func.getNumArguments(), arena_type, {}, func.getLoc()))) {
      func.emitOpError("kiln-plan-memory cannot add the arena argument");
      return signalPassFailure();
    }
    mlir::Value arena = entry.getArgument(entry.getNumArguments() - 1);
    for (Buffer& b : buffers) {
      builder.setInsertionPoint(b.alloc);
      mlir::Value offset =
          mlir::arith::ConstantIndexOp::create(builder, b.alloc.getLoc(), b.Start());
      mlir::Value view = mlir::memref::ViewOp::create(builder, b.alloc.getLoc(), b.alloc.getType(),
                                                      arena, offset, mlir::ValueRange{});
      b.alloc.getResult().replaceAllUsesWith(view);
      for (mlir::memref::DeallocOp d : b.deallocs) d.erase();
      b.alloc.erase();
    }
    func->setAttr("kiln.arena_bytes", builder.getI64IntegerAttr(arena_bytes));
  }
};

}  // namespace
}  // namespace kiln
