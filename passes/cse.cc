// kiln-cse: see passes/passes.td.
#include <unordered_map>
#include <vector>

#include "llvm/ADT/DenseMap.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OperationSupport.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_CSEPASS
#include "passes/passes.h.inc"

namespace {

// A destination whose contents nothing depends on but its type (and fill value).
bool IsBlank(mlir::Value v) {
  mlir::Operation* def = v.getDefiningOp();
  if (mlir::isa_and_nonnull<mlir::tensor::EmptyOp>(def)) return true;
  auto fill = mlir::dyn_cast_or_null<mlir::linalg::FillOp>(def);
  return fill && fill.getNumDpsInputs() == 1 &&
         mlir::matchPattern(fill.getInputs()[0], mlir::m_Constant()) &&
         IsBlank(fill.getOutputs()[0]);
}

// Two blank destinations that hold the same thing: same type, and for fills the same constant.
bool SameBlank(mlir::Value a, mlir::Value b) {
  if (a.getType() != b.getType() || !IsBlank(a) || !IsBlank(b)) return false;
  auto fa = a.getDefiningOp<mlir::linalg::FillOp>(), fb = b.getDefiningOp<mlir::linalg::FillOp>();
  if (!fa && !fb) return true;
  if (!fa || !fb) return false;
  mlir::Attribute ca, cb;
  return mlir::matchPattern(fa.getInputs()[0], mlir::m_Constant(&ca)) &&
         mlir::matchPattern(fb.getInputs()[0], mlir::m_Constant(&cb)) && ca == cb;
}

llvm::hash_code BlankHash(mlir::Value v) {
  if (!IsBlank(v)) return mlir::hash_value(v);
  mlir::Attribute constant;
  if (auto fill = v.getDefiningOp<mlir::linalg::FillOp>())
    mlir::matchPattern(fill.getInputs()[0], mlir::m_Constant(&constant));
  return llvm::hash_combine(v.getType().getAsOpaquePointer(), constant.getAsOpaquePointer());
}

struct CsePass : public impl::CsePassBase<CsePass> {
  void runOnOperation() override {
    mlir::func::FuncOp func = getOperation();
    if (func.isExternal()) return;
    constexpr auto kFlags = mlir::OperationEquivalence::IgnoreLocations;
    std::unordered_map<size_t, std::vector<mlir::Operation*>> seen;
    for (mlir::Operation& op : llvm::make_early_inc_range(func.getBody().front())) {
      if (op.getNumResults() == 0 || op.hasTrait<mlir::OpTrait::IsTerminator>() ||
          !mlir::isMemoryEffectFree(&op) || mlir::isa<mlir::tensor::EmptyOp>(op) ||
          IsBlank(op.getResult(0))) {
        continue;
      }
      const size_t hash = mlir::OperationEquivalence::computeHash(
          &op, BlankHash, mlir::OperationEquivalence::ignoreHashValue, kFlags);
      std::vector<mlir::Operation*>& candidates = seen[hash];
      mlir::Operation* match = nullptr;
      for (mlir::Operation* earlier : candidates) {
        llvm::DenseMap<mlir::Value, mlir::Value> inside;  // values of the two regions' bodies
        auto check = [&](mlir::Value a, mlir::Value b) {
          return mlir::success(a == b || inside.lookup(a) == b || SameBlank(a, b));
        };
        auto mark = [&](mlir::Value a, mlir::Value b) { inside[a] = b; };
        if (mlir::OperationEquivalence::isEquivalentTo(earlier, &op, check, mark, kFlags)) {
          match = earlier;
          break;
        }
      }
      if (match == nullptr) {
        candidates.push_back(&op);
        continue;
      }
      op.replaceAllUsesWith(match->getResults());
      op.erase();
    }
  }
};

}  // namespace
}  // namespace kiln
