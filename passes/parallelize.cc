// kiln-parallelize: see passes/passes.td.
#include "llvm/ADT/SetVector.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "passes/passes.h"

namespace kiln {

#define GEN_PASS_DEF_PARALLELIZEPASS
#include "passes/passes.h.inc"

namespace {

constexpr char kParallelFor[] = "kiln_rt_parallel_for";

// Static trip count of a loop dimension, or -1.
int64_t TripCount(mlir::Value lb, mlir::Value ub, mlir::Value step) {
  auto l = mlir::getConstantIntValue(lb), u = mlir::getConstantIntValue(ub),
       s = mlir::getConstantIntValue(step);
  if (!l || !u || !s || *s <= 0) return -1;
  return *u > *l ? (*u - *l + *s - 1) / *s : 0;
}

// Operations a region executes, counting nested loops' trip counts (unknown ones as 1).
int64_t Work(mlir::Region& region) {
  int64_t total = 0;
  for (mlir::Operation& op : region.getOps()) {
    int64_t trips = 1;
    if (auto f = mlir::dyn_cast<mlir::scf::ForOp>(op)) {
      trips = std::max<int64_t>(1, TripCount(f.getLowerBound(), f.getUpperBound(), f.getStep()));
    } else if (auto p = mlir::dyn_cast<mlir::scf::ParallelOp>(op)) {
      for (unsigned d = 0; d < p.getNumLoops(); ++d) {
        trips *= std::max<int64_t>(
            1, TripCount(p.getLowerBound()[d], p.getUpperBound()[d], p.getStep()[d]));
      }
    }
    int64_t inner = 0;
    for (mlir::Region& r : op.getRegions()) inner += Work(r);
    total += trips * std::max<int64_t>(1, inner);
  }
  return total;
}

// A buffer the closure can carry: static shape, static strides and offset.
bool Carriable(mlir::MemRefType type) {
  if (!type.hasStaticShape()) return false;
  llvm::SmallVector<int64_t> strides;
  int64_t offset;
  if (mlir::failed(type.getStridesAndOffset(strides, offset))) return false;
  if (mlir::ShapedType::isDynamic(offset)) return false;
  for (int64_t s : strides) {
    if (mlir::ShapedType::isDynamic(s)) return false;
  }
  return true;
}

struct ParallelizePass : public impl::ParallelizePassBase<ParallelizePass> {
  using ParallelizePassBase::ParallelizePassBase;

  void runOnOperation() override {
    mlir::ModuleOp module = getOperation();
    llvm::SmallVector<mlir::func::FuncOp> funcs(module.getOps<mlir::func::FuncOp>());
    for (mlir::func::FuncOp f : funcs) {
      if (f.isExternal()) continue;
      mlir::Value context;
      for (mlir::BlockArgument a : f.getArguments()) {
        if (mlir::isa<mlir::LLVM::LLVMPointerType>(a.getType())) context = a;
      }
      if (!context) continue;
      llvm::SmallVector<mlir::scf::ParallelOp> loops;
      for (mlir::Operation& op : f.getBody().front()) {
        if (auto p = mlir::dyn_cast<mlir::scf::ParallelOp>(op)) loops.push_back(p);
      }
      int counter = 0;
      for (mlir::scf::ParallelOp loop : loops)
        Outline(loop, context, module, f.getName().str(), counter);
    }
  }

  void Outline(mlir::scf::ParallelOp loop, mlir::Value context, mlir::ModuleOp module,
               const std::string& parent, int& counter) {
    const int64_t n =
        TripCount(loop.getLowerBound()[0], loop.getUpperBound()[0], loop.getStep()[0]);
    int64_t iterations = n;
    for (unsigned d = 1; d < loop.getNumLoops(); ++d) {
      iterations *= std::max<int64_t>(
          1, TripCount(loop.getLowerBound()[d], loop.getUpperBound()[d], loop.getStep()[d]));
    }
    if (n < 2 || iterations * std::max<int64_t>(1, Work(loop.getRegion())) < minWork) return;
    // What the loop uses from outside: its bounds and the values its body reads.
    llvm::SetVector<mlir::Value> used;
    for (mlir::Value v : loop->getOperands()) used.insert(v);
    mlir::getUsedValuesDefinedAbove(loop.getRegion(), used);
    llvm::SmallVector<mlir::Value> captures, constants;
    for (mlir::Value v : used) {
      mlir::Operation* def = v.getDefiningOp();
      if (def && def->getNumOperands() == 0 && def->getNumRegions() == 0 &&
          mlir::isa<mlir::arith::ConstantOp, mlir::memref::GetGlobalOp>(def)) {
        constants.push_back(v);
      } else if (auto m = mlir::dyn_cast<mlir::MemRefType>(v.getType())) {
        if (!Carriable(m)) return;
        captures.push_back(v);
      } else if (mlir::isa<mlir::IndexType>(v.getType()) ||
                 (v.getType().isIntOrFloat() && v.getType().getIntOrFloatBitWidth() <= 64)) {
        captures.push_back(v);
      } else {
        return;  // something the closure cannot carry: leave the loop serial
      }
    }

    mlir::MLIRContext* ctx = &getContext();
    mlir::Location loc = loop.getLoc();
    auto ptr = mlir::LLVM::LLVMPointerType::get(ctx);
    mlir::Type i64 = mlir::IntegerType::get(ctx, 64);
    auto body_type = mlir::FunctionType::get(ctx, {ptr, i64, i64}, {});
    mlir::OpBuilder mb(module.getBodyRegion());
    if (!module.lookupSymbol(kParallelFor)) {
      mlir::func::FuncOp::create(mb, loc, kParallelFor,
                                 mb.getFunctionType({ptr, i64, body_type, ptr}, {}))
          .setPrivate();
    }
    // Named after the function it came from (objects of several graphs link into one app), and
    // internal to the object.
    std::string name;
    while (module.lookupSymbol(name = parent + "_parallel_" + std::to_string(counter))) ++counter;
    auto outlined = mlir::func::FuncOp::create(mb, loc, name, body_type);
    outlined.setPrivate();
    outlined->setAttr("llvm.linkage",
                      mlir::LLVM::LinkageAttr::get(ctx, mlir::LLVM::Linkage::Internal));

    // The caller: closure slots, then the call.
    mlir::OpBuilder b(loop);
    auto slots_type = mlir::MemRefType::get({std::max<int64_t>(1, captures.size())}, i64);
    mlir::Value slots = mlir::memref::AllocaOp::create(b, loc, slots_type);
    for (size_t i = 0; i < captures.size(); ++i) {
      mlir::Value v = captures[i], bits;
      if (mlir::isa<mlir::MemRefType>(v.getType())) {
        mlir::Value index = mlir::memref::ExtractAlignedPointerAsIndexOp::create(b, loc, v);
        bits = mlir::arith::IndexCastOp::create(b, loc, i64, index);
      } else if (mlir::isa<mlir::IndexType>(v.getType())) {
        bits = mlir::arith::IndexCastOp::create(b, loc, i64, v);
      } else {
        const unsigned width = v.getType().getIntOrFloatBitWidth();
        bits = mlir::isa<mlir::FloatType>(v.getType())
                   ? mlir::arith::BitcastOp::create(b, loc, b.getIntegerType(width), v).getResult()
                   : v;
        if (width < 64) bits = mlir::arith::ExtUIOp::create(b, loc, i64, bits);
      }
      mlir::Value at = mlir::arith::ConstantIndexOp::create(b, loc, i);
      mlir::memref::StoreOp::create(b, loc, bits, slots, mlir::ValueRange{at});
    }
    mlir::Value slots_index = mlir::memref::ExtractAlignedPointerAsIndexOp::create(b, loc, slots);
    mlir::Value slots_i64 = mlir::arith::IndexCastOp::create(b, loc, i64, slots_index);
    mlir::Value closure = mlir::LLVM::IntToPtrOp::create(b, loc, ptr, slots_i64);
    mlir::Value function =
        mlir::func::ConstantOp::create(b, loc, body_type, mlir::SymbolRefAttr::get(ctx, name));
    mlir::Value count = mlir::arith::ConstantIntOp::create(b, loc, i64, n);
    mlir::func::CallOp::create(b, loc, kParallelFor, mlir::TypeRange{},
                               mlir::ValueRange{context, count, function, closure});

    // The outlined body: unpack the closure, run the loop over [begin, end) of its first dimension.
    mlir::Block* entry = outlined.addEntryBlock();
    mlir::OpBuilder ob = mlir::OpBuilder::atBlockBegin(entry);
    mlir::IRMapping map;
    for (mlir::Value c : constants) ob.clone(*c.getDefiningOp(), map);
    mlir::Value closure_arg = entry->getArgument(0);
    for (size_t i = 0; i < captures.size(); ++i) {
      mlir::Value v = captures[i];
      mlir::Value slot =
          mlir::LLVM::GEPOp::create(ob, loc, ptr, i64, closure_arg,
                                    llvm::ArrayRef<mlir::LLVM::GEPArg>{static_cast<int32_t>(i)});
      mlir::Value bits = mlir::LLVM::LoadOp::create(ob, loc, i64, slot);
      mlir::Value value;
      if (auto m = mlir::dyn_cast<mlir::MemRefType>(v.getType())) {
        mlir::Value data = mlir::LLVM::IntToPtrOp::create(ob, loc, ptr, bits);
        value = Descriptor(ob, loc, m, data);
      } else if (mlir::isa<mlir::IndexType>(v.getType())) {
        value = mlir::arith::IndexCastOp::create(ob, loc, v.getType(), bits);
      } else {
        const unsigned width = v.getType().getIntOrFloatBitWidth();
        value =
            width < 64
                ? mlir::arith::TruncIOp::create(ob, loc, ob.getIntegerType(width), bits).getResult()
                : bits;
        if (mlir::isa<mlir::FloatType>(v.getType()))
          value = mlir::arith::BitcastOp::create(ob, loc, v.getType(), value);
      }
      map.map(v, value);
    }
    auto index = [&](mlir::Value x) {
      return mlir::arith::IndexCastOp::create(ob, loc, ob.getIndexType(), x);
    };
    mlir::Value lb = map.lookupOrDefault(loop.getLowerBound()[0]);
    mlir::Value ub = map.lookupOrDefault(loop.getUpperBound()[0]);
    mlir::Value step = map.lookupOrDefault(loop.getStep()[0]);
    mlir::Value begin = mlir::arith::AddIOp::create(
        ob, loc, lb, mlir::arith::MulIOp::create(ob, loc, index(entry->getArgument(1)), step));
    mlir::Value end = mlir::arith::MinSIOp::create(
        ob, loc, ub,
        mlir::arith::AddIOp::create(
            ob, loc, lb, mlir::arith::MulIOp::create(ob, loc, index(entry->getArgument(2)), step)));
    auto clone = mlir::cast<mlir::scf::ParallelOp>(ob.clone(*loop, map));
    clone.getLowerBoundMutable().slice(0, 1).assign(begin);
    clone.getUpperBoundMutable().slice(0, 1).assign(end);
    mlir::func::ReturnOp::create(ob, loc);
    loop->erase();
  }

  // A memref of `type` over the data at `data` (its aligned pointer): an LLVM descriptor made from
  // the type's static shape, strides and offset, cast to the memref (the casts cancel once memrefs
  // are lowered to LLVM).
  mlir::Value Descriptor(mlir::OpBuilder& b, mlir::Location loc, mlir::MemRefType type,
                         mlir::Value data) {
    mlir::MLIRContext* ctx = b.getContext();
    auto ptr = mlir::LLVM::LLVMPointerType::get(ctx);
    mlir::Type i64 = b.getI64Type();
    const int64_t rank = type.getRank();
    llvm::SmallVector<int64_t> strides;
    int64_t offset;
    (void)type.getStridesAndOffset(strides, offset);
    llvm::SmallVector<mlir::Type> fields = {ptr, ptr, i64};
    if (rank > 0) {
      fields.push_back(mlir::LLVM::LLVMArrayType::get(i64, rank));
      fields.push_back(mlir::LLVM::LLVMArrayType::get(i64, rank));
    }
    auto struct_type = mlir::LLVM::LLVMStructType::getLiteral(ctx, fields);
    mlir::Value desc = mlir::LLVM::UndefOp::create(b, loc, struct_type);
    auto constant = [&](int64_t v) {
      return mlir::LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(v));
    };
    desc = mlir::LLVM::InsertValueOp::create(b, loc, desc, data, llvm::ArrayRef<int64_t>{0});
    desc = mlir::LLVM::InsertValueOp::create(b, loc, desc, data, llvm::ArrayRef<int64_t>{1});
    desc = mlir::LLVM::InsertValueOp::create(b, loc, desc, constant(offset),
                                             llvm::ArrayRef<int64_t>{2});
    for (int64_t d = 0; d < rank; ++d) {
      desc = mlir::LLVM::InsertValueOp::create(b, loc, desc, constant(type.getDimSize(d)),
                                               llvm::ArrayRef<int64_t>{3, d});
      desc = mlir::LLVM::InsertValueOp::create(b, loc, desc, constant(strides[d]),
                                               llvm::ArrayRef<int64_t>{4, d});
    }
    return mlir::UnrealizedConversionCastOp::create(b, loc, type, desc).getResult(0);
  }
};

}  // namespace
}  // namespace kiln
