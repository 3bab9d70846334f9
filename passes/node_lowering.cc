#include "passes/node_lowering.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "graph/lowering.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "runtime/hook_params.h"

namespace kiln {

mlir::Type ElementType(DType dtype, mlir::MLIRContext* ctx) {
  mlir::Builder b(ctx);
  switch (dtype) {
    case DType::kF32: return b.getF32Type();
    case DType::kF64: return b.getF64Type();
    case DType::kF16: return b.getF16Type();
    case DType::kBF16: return b.getBF16Type();
    case DType::kI8: return b.getI8Type();
    case DType::kI32: return b.getI32Type();
    case DType::kI64: return b.getI64Type();
    case DType::kBool: return b.getI1Type();
  }
  return {};
}

mlir::RankedTensorType TensorTypeOf(const TensorType& t, mlir::MLIRContext* ctx) {
  return mlir::RankedTensorType::get(t.shape.dims(), ElementType(t.dtype, ctx));
}

mlir::MemRefType MemRefTypeOf(const TensorType& t, mlir::MLIRContext* ctx) {
  return mlir::MemRefType::get(t.shape.dims(), ElementType(t.dtype, ctx));
}

mlir::DenseElementsAttr TensorDataAttr(const TensorData& value, mlir::RankedTensorType type) {
  const std::string_view bytes = value.bytes();
  if (value.dtype() == DType::kBool) {
    // MLIR keeps i1 elements as bits, not TensorData's bytes.
    llvm::SmallVector<bool> bits(bytes.begin(), bytes.end());
    return mlir::DenseElementsAttr::get(type, llvm::ArrayRef<bool>(bits));
  }
  // Every other dtype is stored as MLIR stores it (host-endian elements of the type's width, f16
  // and bf16 as their bits): one copy into the context, at the dtype's size.
  return mlir::DenseElementsAttr::getFromRawBuffer(
      type, llvm::ArrayRef<char>(bytes.data(), bytes.size()));
}

namespace {

DType DTypeOf(mlir::Type t) {
  if (t.isF32()) return DType::kF32;
  if (t.isF64()) return DType::kF64;
  if (t.isF16()) return DType::kF16;
  if (t.isBF16()) return DType::kBF16;
  if (t.isInteger(8)) return DType::kI8;
  if (t.isInteger(32)) return DType::kI32;
  if (t.isInteger(1)) return DType::kBool;
  return DType::kI64;
}

// An integer attribute of `type` (an integer of any width, or index) holding the low bits of value.
mlir::IntegerAttr IntAttr(mlir::Type type, int64_t value) {
  const unsigned bits = type.isIndex() ? 64 : type.getIntOrFloatBitWidth();
  llvm::APInt bits64(64, static_cast<uint64_t>(value), /*isSigned=*/true);
  return mlir::IntegerAttr::get(type, bits64.sextOrTrunc(bits));
}

mlir::Value V(IrValue v) { return mlir::Value::getFromOpaquePointer(v.impl()); }
IrValue I(mlir::Value v) { return IrValue(v.getAsOpaquePointer()); }

// Per-element code inside a linalg.generic body.
class MlirScalarBuilder : public ScalarBuilder {
 public:
  MlirScalarBuilder(mlir::OpBuilder& b, mlir::Location loc) : b_(b), loc_(loc) {}
  using ScalarBuilder::Apply;

  IrValue ConstantLike(double value, IrValue like) override {
    return I(Const(value, V(like).getType()));
  }
  IrValue Constant(double value, DType dtype) override {
    return I(Const(value, ElementType(dtype, b_.getContext())));
  }
  IrValue IntConstant(int64_t value, DType dtype) override {
    mlir::Type type = ElementType(dtype, b_.getContext());
    return I(mlir::arith::ConstantOp::create(b_, loc_, type, IntAttr(type, value)));
  }
  IrValue Index(int loop) override { return I(mlir::linalg::IndexOp::create(b_, loc_, loop)); }
  IrValue IndexConstant(int64_t value) override {
    return I(mlir::arith::ConstantIndexOp::create(b_, loc_, value));
  }
  IrValue ToIndex(IrValue integer) override {
    mlir::Value v = V(integer);
    if (v.getType().isIndex()) return integer;
    return I(mlir::arith::IndexCastOp::create(b_, loc_, b_.getIndexType(), v));
  }
  IrValue Extract(IrValue tensor, const std::vector<IrValue>& index) override {
    llvm::SmallVector<mlir::Value> indices;
    for (const IrValue& i : index) indices.push_back(V(i));
    return I(mlir::tensor::ExtractOp::create(b_, loc_, V(tensor), indices));
  }

  IrValue Select(IrValue cond, IrValue a, IrValue b) override {
    return I(mlir::arith::SelectOp::create(b_, loc_, V(cond), V(a), V(b)));
  }

  IrValue Convert(IrValue x, DType to) override {
    mlir::Value v = V(x);
    if (v.getType().isIndex()) v = mlir::arith::IndexCastOp::create(b_, loc_, b_.getI64Type(), v);
    mlir::Type from = v.getType(), target = ElementType(to, b_.getContext());
    if (from == target) return I(v);
    const bool from_float = mlir::isa<mlir::FloatType>(from),
               to_float = mlir::isa<mlir::FloatType>(target);
    if (to == DType::kBool) {
      mlir::Value zero = Const(0, from);
      return I(from_float
                   ? mlir::arith::CmpFOp::create(b_, loc_, mlir::arith::CmpFPredicate::UNE, v, zero)
                         .getResult()
                   : mlir::arith::CmpIOp::create(b_, loc_, mlir::arith::CmpIPredicate::ne, v, zero)
                         .getResult());
    }
    if (from_float && to_float) {
      return I(from.getIntOrFloatBitWidth() < target.getIntOrFloatBitWidth()
                   ? mlir::arith::ExtFOp::create(b_, loc_, target, v).getResult()
                   : mlir::arith::TruncFOp::create(b_, loc_, target, v).getResult());
    }
    const bool from_bool = from.isInteger(1);
    if (to_float) {
      // A bool is 0 or 1, not 0 or -1: convert it unsigned.
      return I(from_bool ? mlir::arith::UIToFPOp::create(b_, loc_, target, v).getResult()
                         : mlir::arith::SIToFPOp::create(b_, loc_, target, v).getResult());
    }
    if (from_float) return I(mlir::arith::FPToSIOp::create(b_, loc_, target, v));
    if (from.getIntOrFloatBitWidth() < target.getIntOrFloatBitWidth()) {
      return I(from_bool ? mlir::arith::ExtUIOp::create(b_, loc_, target, v).getResult()
                         : mlir::arith::ExtSIOp::create(b_, loc_, target, v).getResult());
    }
    return I(mlir::arith::TruncIOp::create(b_, loc_, target, v));
  }

  IrValue Apply(ScalarOp op, const std::vector<IrValue>& operands) override {
    mlir::Value x = V(operands[0]);
    mlir::Value y = operands.size() > 1 ? V(operands[1]) : mlir::Value();
    return I(mlir::isa<mlir::FloatType>(x.getType()) ? ApplyFloat(op, x, y) : ApplyInt(op, x, y));
  }

 private:
  mlir::Value Const(double value, mlir::Type type) {
    if (auto f = mlir::dyn_cast<mlir::FloatType>(type)) {
      return mlir::arith::ConstantOp::create(b_, loc_, type, b_.getFloatAttr(f, value));
    }
    return mlir::arith::ConstantOp::create(b_, loc_, type,
                                           IntAttr(type, static_cast<int64_t>(value)));
  }

  template <typename Op>
  mlir::Value Un(mlir::Value x) {
    return Op::create(b_, loc_, x);
  }
  template <typename Op>
  mlir::Value Bin(mlir::Value x, mlir::Value y) {
    return Op::create(b_, loc_, x, y);
  }

  mlir::Value ApplyFloat(ScalarOp op, mlir::Value x, mlir::Value y) {
    namespace ar = mlir::arith;
    namespace ma = mlir::math;
    switch (op) {
      case ScalarOp::kNeg: return Un<ar::NegFOp>(x);
      case ScalarOp::kAbs: return Un<ma::AbsFOp>(x);
      case ScalarOp::kSign: {
        // copysign(1, x), and 0 for 0 (the interpreter's and NumPy's sign).
        mlir::Value zero = Const(0, x.getType());
        mlir::Value is_zero = ar::CmpFOp::create(b_, loc_, ar::CmpFPredicate::OEQ, x, zero);
        return ar::SelectOp::create(b_, loc_, is_zero, zero,
                                    Bin<ma::CopySignOp>(Const(1, x.getType()), x));
      }
      case ScalarOp::kExp: return Un<ma::ExpOp>(x);
      case ScalarOp::kLog: return Un<ma::LogOp>(x);
      case ScalarOp::kLog1p: return Un<ma::Log1pOp>(x);
      case ScalarOp::kSqrt: return Un<ma::SqrtOp>(x);
      case ScalarOp::kRsqrt: return Un<ma::RsqrtOp>(x);
      case ScalarOp::kTanh: return Un<ma::TanhOp>(x);
      case ScalarOp::kErf: return Un<ma::ErfOp>(x);
      case ScalarOp::kSin: return Un<ma::SinOp>(x);
      case ScalarOp::kCos: return Un<ma::CosOp>(x);
      case ScalarOp::kFloor: return Un<ma::FloorOp>(x);
      case ScalarOp::kAdd: return Bin<ar::AddFOp>(x, y);
      case ScalarOp::kSub: return Bin<ar::SubFOp>(x, y);
      case ScalarOp::kMul: return Bin<ar::MulFOp>(x, y);
      case ScalarOp::kDiv: return Bin<ar::DivFOp>(x, y);
      case ScalarOp::kPow: return Bin<ma::PowFOp>(x, y);
      case ScalarOp::kMax: return Bin<ar::MaximumFOp>(x, y);
      case ScalarOp::kMin: return Bin<ar::MinimumFOp>(x, y);
      case ScalarOp::kEqual: return ar::CmpFOp::create(b_, loc_, ar::CmpFPredicate::OEQ, x, y);
      case ScalarOp::kLess: return ar::CmpFOp::create(b_, loc_, ar::CmpFPredicate::OLT, x, y);
      case ScalarOp::kGreater: return ar::CmpFOp::create(b_, loc_, ar::CmpFPredicate::OGT, x, y);
      case ScalarOp::kRem: return Bin<ar::RemFOp>(x, y);
      case ScalarOp::kNot:
      case ScalarOp::kAnd:
      case ScalarOp::kXor:
      case ScalarOp::kShiftRightLogical: break;
    }
    return {};
  }

  mlir::Value ApplyInt(ScalarOp op, mlir::Value x, mlir::Value y) {
    namespace ar = mlir::arith;
    switch (op) {
      case ScalarOp::kNeg: return Bin<ar::SubIOp>(Const(0, x.getType()), x);
      case ScalarOp::kAbs: return Un<mlir::math::AbsIOp>(x);
      case ScalarOp::kSign: {
        mlir::Value zero = Const(0, x.getType());
        mlir::Value pos = ar::ExtUIOp::create(
            b_, loc_, x.getType(), ar::CmpIOp::create(b_, loc_, ar::CmpIPredicate::sgt, x, zero));
        mlir::Value neg = ar::ExtUIOp::create(
            b_, loc_, x.getType(), ar::CmpIOp::create(b_, loc_, ar::CmpIPredicate::slt, x, zero));
        return Bin<ar::SubIOp>(pos, neg);
      }
      case ScalarOp::kAdd: return Bin<ar::AddIOp>(x, y);
      case ScalarOp::kSub: return Bin<ar::SubIOp>(x, y);
      case ScalarOp::kMul: return Bin<ar::MulIOp>(x, y);
      case ScalarOp::kDiv: return Bin<ar::DivSIOp>(x, y);
      // Bools are i1, whose signed order has true (-1) below false: max is or, min is and.
      case ScalarOp::kMax:
        return x.getType().isInteger(1) ? Bin<ar::OrIOp>(x, y) : Bin<ar::MaxSIOp>(x, y);
      case ScalarOp::kMin:
        return x.getType().isInteger(1) ? Bin<ar::AndIOp>(x, y) : Bin<ar::MinSIOp>(x, y);
      case ScalarOp::kAnd: return Bin<ar::AndIOp>(x, y);
      case ScalarOp::kRem: return Bin<ar::RemSIOp>(x, y);
      case ScalarOp::kXor: return Bin<ar::XOrIOp>(x, y);
      case ScalarOp::kShiftRightLogical: return Bin<ar::ShRUIOp>(x, y);
      case ScalarOp::kNot: return Bin<ar::XOrIOp>(x, Const(1, x.getType()));
      case ScalarOp::kEqual: return ar::CmpIOp::create(b_, loc_, ar::CmpIPredicate::eq, x, y);
      case ScalarOp::kLess:
        return ar::CmpIOp::create(
            b_, loc_, x.getType().isInteger(1) ? ar::CmpIPredicate::ult : ar::CmpIPredicate::slt, x,
            y);
      case ScalarOp::kGreater:
        return ar::CmpIOp::create(
            b_, loc_, x.getType().isInteger(1) ? ar::CmpIPredicate::ugt : ar::CmpIPredicate::sgt, x,
            y);
      default: break;  // float-only functions: the shape rules keep integers away
    }
    return {};
  }

  mlir::OpBuilder& b_;
  mlir::Location loc_;
};

mlir::Value EmptyTensor(mlir::OpBuilder& b, mlir::Location loc, const TensorType& t) {
  return mlir::tensor::EmptyOp::create(b, loc, t.shape.dims(),
                                       ElementType(t.dtype, b.getContext()));
}

class MlirLoweringContext : public LoweringContext {
 public:
  MlirLoweringContext(mlir::OpBuilder& b, mlir::Location loc, const Node& node,
                      std::vector<mlir::Value> inputs, std::vector<TensorType> input_types,
                      mlir::Value runtime_context, const Target& target, LibraryEpilogue* epilogue)
      : b_(b),
        loc_(loc),
        node_(node),
        inputs_(std::move(inputs)),
        input_types_(std::move(input_types)),
        outputs_(node.outputs.size()),
        runtime_context_(runtime_context),
        target_(target),
        epilogue_(epilogue) {}

  const Node& node() const override { return node_; }
  IrValue input(int i) override { return I(inputs_[i]); }
  const TensorType& input_type(int i) const override { return input_types_[i]; }
  void SetOutput(int i, IrValue value) override { outputs_[i] = V(value); }
  const std::vector<mlir::Value>& outputs() const { return outputs_; }
  const absl::Status& status() const { return status_; }

  IrValue Elementwise(const std::vector<IrValue>& inputs, const TensorType& out,
                      const ScalarFn& body) override {
    mlir::MLIRContext* ctx = b_.getContext();
    const int rank = out.shape.rank();
    std::vector<mlir::AffineMap> maps;
    std::vector<mlir::Value> operands;
    for (const IrValue& in : inputs) {
      mlir::Value v = V(in);
      auto type = mlir::cast<mlir::RankedTensorType>(v.getType());
      const int r = type.getRank();
      std::vector<mlir::AffineExpr> exprs;
      for (int j = 0; j < r; ++j) {
        const int d = rank - r + j;
        // A size-1 dimension broadcasts: always read its only element.
        exprs.push_back(type.getDimSize(j) == 1 && out.shape[d] != 1
                            ? mlir::getAffineConstantExpr(0, ctx)
                            : mlir::getAffineDimExpr(d, ctx));
      }
      maps.push_back(mlir::AffineMap::get(rank, 0, exprs, ctx));
      operands.push_back(v);
    }
    maps.push_back(mlir::AffineMap::getMultiDimIdentityMap(rank, ctx));
    std::vector<mlir::utils::IteratorType> iterators(rank, mlir::utils::IteratorType::parallel);
    auto generic = mlir::linalg::GenericOp::create(
        b_, loc_, mlir::TypeRange{TensorTypeOf(out, ctx)}, operands,
        mlir::ValueRange{EmptyTensor(b_, loc_, out)}, maps, iterators,
        [&](mlir::OpBuilder& nb, mlir::Location nloc, mlir::ValueRange args) {
          MlirScalarBuilder sb(nb, nloc);
          std::vector<IrValue> elements;
          for (size_t i = 0; i < inputs.size(); ++i) elements.push_back(I(args[i]));
          mlir::linalg::YieldOp::create(nb, nloc, V(body(sb, elements)));
        });
    return I(generic.getResult(0));
  }

  TensorType TypeOf(IrValue x) const override {
    auto type = mlir::cast<mlir::RankedTensorType>(V(x).getType());
    return TensorType{DTypeOf(type.getElementType()), Shape(type.getShape().vec())};
  }

  IrValue Generic(const std::vector<GenericInput>& inputs,
                  const std::vector<int64_t>& reduction_extents, ReduceKind combine,
                  const TensorType& out, const ScalarFn& body) override {
    mlir::MLIRContext* ctx = b_.getContext();
    const int rank = out.shape.rank();
    const int loops = rank + static_cast<int>(reduction_extents.size());
    const bool reduces = !reduction_extents.empty();
    // Empty loop ranges: nothing to compute (and linalg's shape checks reject some empty windows).
    if (out.shape.NumElements() == 0) return I(EmptyTensor(b_, loc_, out));
    for (int64_t extent : reduction_extents) {
      if (extent == 0) return I(Filled(out, Identity(combine, out.dtype)));
    }
    std::vector<mlir::AffineMap> maps;
    std::vector<mlir::Value> operands;
    for (const GenericInput& in : inputs) {
      std::vector<mlir::AffineExpr> exprs;
      for (const AffineIndex& index : in.index) {
        mlir::AffineExpr e = mlir::getAffineConstantExpr(index.offset, ctx);
        for (const auto& [loop, coefficient] : index.terms) {
          e = e + mlir::getAffineDimExpr(loop, ctx) * coefficient;
        }
        exprs.push_back(e);
      }
      maps.push_back(mlir::AffineMap::get(loops, 0, exprs, ctx));
      operands.push_back(V(in.tensor));
    }
    if (reduces) {
      // A window operand that only gives the reduction loops their extents (as linalg's pooling ops
      // do): the inputs' indices may mention a reduction loop only inside sums.
      operands.push_back(
          mlir::tensor::EmptyOp::create(b_, loc_, reduction_extents, b_.getI8Type()));
      std::vector<mlir::AffineExpr> exprs;
      for (int l = rank; l < loops; ++l) exprs.push_back(mlir::getAffineDimExpr(l, ctx));
      maps.push_back(mlir::AffineMap::get(loops, 0, exprs, ctx));
    }
    std::vector<mlir::AffineExpr> out_exprs;
    for (int l = 0; l < rank; ++l) out_exprs.push_back(mlir::getAffineDimExpr(l, ctx));
    maps.push_back(mlir::AffineMap::get(loops, 0, out_exprs, ctx));
    std::vector<mlir::utils::IteratorType> iterators(rank, mlir::utils::IteratorType::parallel);
    iterators.resize(loops, mlir::utils::IteratorType::reduction);
    mlir::Value init =
        reduces ? Filled(out, Identity(combine, out.dtype)) : EmptyTensor(b_, loc_, out);
    auto generic = mlir::linalg::GenericOp::create(
        b_, loc_, mlir::TypeRange{init.getType()}, operands, mlir::ValueRange{init}, maps,
        iterators, [&](mlir::OpBuilder& nb, mlir::Location nloc, mlir::ValueRange args) {
          MlirScalarBuilder sb(nb, nloc);
          std::vector<IrValue> elements;
          for (size_t i = 0; i < inputs.size(); ++i) elements.push_back(I(args[i]));
          IrValue value = body(sb, elements);
          if (reduces) value = Reassociable(sb.Apply(CombineOp(combine), I(args.back()), value));
          mlir::linalg::YieldOp::create(nb, nloc, V(value));
        });
    return I(generic.getResult(0));
  }

  IrValue Fill(double value, const TensorType& type) override { return I(Filled(type, value)); }

  IrValue Transpose(IrValue x, const std::vector<int64_t>& perm) override {
    mlir::Value v = V(x);
    const TensorType in = TypeOf(x);
    bool identity = true;
    for (size_t i = 0; i < perm.size(); ++i) identity &= perm[i] == static_cast<int64_t>(i);
    if (identity) return x;
    std::vector<int64_t> dims;
    for (int64_t p : perm) dims.push_back(in.shape[p]);
    mlir::Value init = EmptyTensor(b_, loc_, {in.dtype, Shape(dims)});
    return I(mlir::linalg::TransposeOp::create(b_, loc_, v, init, perm)->getResult(0));
  }

  // Slices and padding are generics that read their source with tensor.extract rather than
  // tensor.extract_slice/insert_slice/pad: those bufferize to memref.copy between strided views,
  // which lowers to a call to `memrefCopy` (libmlir_c_runner_utils) that neither the JIT nor an AOT
  // object links. The generics also fuse into their consumers (a padded convolution input is never
  // materialized).
  IrValue ExtractSlice(IrValue x, const std::vector<int64_t>& offsets,
                       const std::vector<int64_t>& sizes,
                       const std::vector<int64_t>& strides) override {
    const TensorType in = TypeOf(x);
    if (offsets == std::vector<int64_t>(offsets.size(), 0) && sizes == in.shape.dims() &&
        strides == std::vector<int64_t>(strides.size(), 1)) {
      return x;
    }
    const TensorType out{in.dtype, Shape(sizes)};
    if (out.shape.NumElements() == 0) return I(EmptyTensor(b_, loc_, out));
    return Elementwise({}, out, [&](ScalarBuilder& b, const std::vector<IrValue>&) {
      std::vector<IrValue> at;
      for (size_t d = 0; d < sizes.size(); ++d) {
        at.push_back(b.Apply(
            ScalarOp::kAdd,
            b.Apply(ScalarOp::kMul, b.Index(static_cast<int>(d)), b.IndexConstant(strides[d])),
            b.IndexConstant(offsets[d])));
      }
      return b.Extract(x, at);
    });
  }

  IrValue InsertSlice(IrValue source, IrValue dest, const std::vector<int64_t>& offsets,
                      const std::vector<int64_t>& strides) override {
    const TensorType src = TypeOf(source), dst = TypeOf(dest);
    if (src.shape.NumElements() == 0) return dest;
    return Elementwise({dest}, dst, [&](ScalarBuilder& b, const std::vector<IrValue>& old) {
      std::vector<IrValue> at;
      IrValue inside;
      for (int d = 0; d < src.shape.rank(); ++d) {
        // Position i of dest holds source element (i - offset) / stride when that divides evenly.
        IrValue rel = b.Apply(ScalarOp::kSub, b.Index(d), b.IndexConstant(offsets[d]));
        IrValue q =
            strides[d] == 1 ? rel : b.Apply(ScalarOp::kDiv, rel, b.IndexConstant(strides[d]));
        IrValue ok = b.Apply(ScalarOp::kAnd, NonNegative(b, rel),
                             b.Apply(ScalarOp::kLess, q, b.IndexConstant(src.shape[d])));
        if (strides[d] != 1) {
          IrValue remainder = b.Apply(ScalarOp::kRem, rel, b.IndexConstant(strides[d]));
          ok =
              b.Apply(ScalarOp::kAnd, ok, b.Apply(ScalarOp::kEqual, remainder, b.IndexConstant(0)));
        }
        inside = inside.valid() ? b.Apply(ScalarOp::kAnd, inside, ok) : ok;
        at.push_back(b.ClampIndex(q, 0, src.shape[d] - 1));
      }
      if (!inside.valid()) return b.Extract(source, at);  // rank 0: the whole tensor
      return b.Select(inside, b.Extract(source, at), old[0]);
    });
  }

  IrValue Pad(IrValue x, const std::vector<int64_t>& low, const std::vector<int64_t>& high,
              double value) override {
    const TensorType in = TypeOf(x);
    std::vector<int64_t> dims = in.shape.dims();
    bool any = false;
    for (size_t d = 0; d < dims.size(); ++d) {
      dims[d] += low[d] + high[d];
      any |= low[d] != 0 || high[d] != 0;
    }
    if (!any) return x;
    const TensorType out{in.dtype, Shape(dims)};
    if (in.shape.NumElements() == 0) return Fill(value, out);
    return Elementwise({}, out, [&](ScalarBuilder& b, const std::vector<IrValue>&) {
      std::vector<IrValue> at;
      IrValue inside;
      for (int d = 0; d < in.shape.rank(); ++d) {
        if (low[d] == 0 && high[d] == 0) {
          at.push_back(b.Index(d));
          continue;
        }
        IrValue rel = b.Apply(ScalarOp::kSub, b.Index(d), b.IndexConstant(low[d]));
        IrValue ok = b.Apply(ScalarOp::kAnd, NonNegative(b, rel),
                             b.Apply(ScalarOp::kLess, rel, b.IndexConstant(in.shape[d])));
        inside = inside.valid() ? b.Apply(ScalarOp::kAnd, inside, ok) : ok;
        at.push_back(b.ClampIndex(rel, 0, in.shape[d] - 1));
      }
      return b.Select(inside, b.Extract(x, at), b.Constant(value, in.dtype));
    });
  }

  IrValue Constant(const TensorData& value) override {
    mlir::RankedTensorType type = TensorTypeOf(value.type(), b_.getContext());
    return I(mlir::arith::ConstantOp::create(b_, loc_, type, TensorDataAttr(value, type)));
  }

  IrValue Reshape(IrValue x, const Shape& shape) override {
    mlir::Value v = V(x);
    auto type = mlir::cast<mlir::RankedTensorType>(v.getType());
    auto result = mlir::RankedTensorType::get(shape.dims(), type.getElementType());
    if (result == type) return x;
    auto shape_type = mlir::RankedTensorType::get({shape.rank()}, b_.getIndexType());
    llvm::SmallVector<mlir::Attribute> dims;
    for (int64_t d : shape.dims()) dims.push_back(b_.getIndexAttr(d));
    mlir::Value shape_value = mlir::arith::ConstantOp::create(
        b_, loc_, shape_type, mlir::DenseElementsAttr::get(shape_type, dims));
    return I(mlir::tensor::ReshapeOp::create(b_, loc_, result, v, shape_value));
  }

  IrValue MatMul(IrValue a, IrValue b, bool transpose_a, bool transpose_b,
                 const TensorType& out) override {
    const int64_t m = out.shape[0], n = out.shape[1], k = TypeOf(a).shape[transpose_a ? 0 : 1];
    std::vector<int64_t> params(KILN_MATMUL_PARAMS);
    params[KILN_MATMUL_M] = m;
    params[KILN_MATMUL_N] = n;
    params[KILN_MATMUL_K] = k;
    params[KILN_MATMUL_TRANSPOSE_A] = transpose_a;
    params[KILN_MATMUL_TRANSPOSE_B] = transpose_b;
    return LibraryCall(LibraryKernel::kMatMul, params, {a, b}, out,
                       [=] { return MatMulLoops(a, b, transpose_a, transpose_b, out); });
  }

  IrValue LibraryCall(LibraryKernel kernel, const std::vector<int64_t>& params,
                      const std::vector<IrValue>& inputs, const TensorType& out,
                      const std::function<IrValue()>& fallback) override {
    // The target's library (target/target.h) says whether and how: oneDNN's hooks
    // (runtime/dnnl_kernels.h), or the CUDA target's (runtime/cuda.h: cuBLASLt, cuDNN).
    const LibraryKernelRule* rule = target_.LibraryRule(kernel);
    if (rule == nullptr) return fallback();
    // (Only convolution rules restrict padding or filter layouts.)
    if (rule->symmetric_padding_only &&
        (params[KILN_CONV_PAD_TOP] != params[KILN_CONV_PAD_BOTTOM] ||
         params[KILN_CONV_PAD_LEFT] != params[KILN_CONV_PAD_RIGHT])) {
      return fallback();
    }
    const RuntimeHook* hook = rule->hook;
    std::vector<int64_t> call_params = params;
    std::vector<IrValue> call_inputs = inputs;
    const bool with_epilogue =
        epilogue_ != nullptr && !epilogue_->fused && rule->bias_hook != nullptr;
    if (with_epilogue) {
      // The same kernel with a bias operand and a last parameter, relu (runtime/hook_params.h).
      hook = rule->bias_hook;
      call_params.push_back(epilogue_->relu);
      call_inputs.push_back(I(epilogue_->bias));
    }
    if (static_cast<int>(call_params.size()) != hook->params ||
        static_cast<int>(call_inputs.size()) + 1 != hook->operands) {
      // The op's lowering and the runtime's table (runtime/hooks.def) disagree: our bug.
      status_ = absl::InternalError(
          absl::StrCat(hook->name, " takes ", hook->params, " parameters and ", hook->operands,
                       " operands, not ", call_params.size(), " and ", call_inputs.size() + 1));
      return fallback();
    }
    if (rule->precision_parameter)
      call_params.push_back(static_cast<int64_t>(target_.gpu_precision));
    bool callable = out.dtype == DType::kF32 && out.shape.NumElements() > 0;
    for (const IrValue& in : call_inputs) {
      const TensorType t = TypeOf(in);
      callable &= t.dtype == DType::kF32 && t.shape.NumElements() > 0;
    }
    if (!callable) return fallback();
    if (with_epilogue) epilogue_->fused = true;
    TensorType call_out = out;
    const bool filter_out = rule->ohwi_filters && kernel == LibraryKernel::kConv2DBackpropFilter;
    if (rule->ohwi_filters) {
      // The library's filters are OHWI, Kiln's HWIO: transposed on the way in, or on the way out.
      if (filter_out) {
        call_out.shape = Shape({out.shape[3], out.shape[0], out.shape[1], out.shape[2]});
      } else {
        call_inputs[1] = Transpose(call_inputs[1], {3, 0, 1, 2});
      }
    }
    mlir::MLIRContext* ctx = b_.getContext();
    // The call takes its operands as buffers of their exact types, so bufferization and the memory
    // plan see what it reads and writes; kiln-lower-library-calls makes it a call of the C hook.
    auto result = mlir::memref::AllocOp::create(b_, loc_, MemRefTypeOf(call_out, ctx),
                                                b_.getI64IntegerAttr(64));
    auto params_type =
        mlir::RankedTensorType::get({static_cast<int64_t>(call_params.size())}, b_.getI64Type());
    mlir::Value params_tensor = mlir::arith::ConstantOp::create(
        b_, loc_, params_type,
        mlir::DenseElementsAttr::get(params_type, llvm::ArrayRef<int64_t>(call_params)));
    std::vector<mlir::Value> args = {runtime_context_, ToBuffer(params_tensor)};
    for (const IrValue& in : call_inputs) args.push_back(ToBuffer(V(in)));
    args.push_back(result);
    mlir::func::CallOp::create(b_, loc_, SiteDeclaration(hook->name, args), mlir::TypeRange{},
                               args);
    IrValue value =
        I(mlir::bufferization::ToTensorOp::create(b_, loc_, TensorTypeOf(call_out, ctx), result,
                                                  /*restrict=*/true, /*writable=*/true));
    return filter_out ? Transpose(value, {1, 2, 3, 0}) : value;
  }

  IrValue MatMulLoops(IrValue a, IrValue b, bool transpose_a, bool transpose_b,
                      const TensorType& out) {
    mlir::MLIRContext* ctx = b_.getContext();
    if (transpose_b) {
      // A transposed b would be read with a stride in the innermost loop: transposing it once costs
      // k·n copies against m·k·n multiply-adds.
      b = Transpose(b, {1, 0});
      transpose_b = false;
    }
    // Loops (m, k, n): the innermost loop walks rows of b and of the result contiguously, which
    // LLVM vectorizes; each result element still sums over k in order.
    auto m = mlir::getAffineDimExpr(0, ctx), k = mlir::getAffineDimExpr(1, ctx),
         n = mlir::getAffineDimExpr(2, ctx);
    std::vector<mlir::AffineMap> maps = {
        mlir::AffineMap::get(3, 0,
                             transpose_a ? llvm::ArrayRef<mlir::AffineExpr>{k, m}
                                         : llvm::ArrayRef<mlir::AffineExpr>{m, k},
                             ctx),
        mlir::AffineMap::get(3, 0,
                             transpose_b ? llvm::ArrayRef<mlir::AffineExpr>{n, k}
                                         : llvm::ArrayRef<mlir::AffineExpr>{k, n},
                             ctx),
        mlir::AffineMap::get(3, 0, {m, n}, ctx)};
    std::vector<mlir::utils::IteratorType> iterators = {mlir::utils::IteratorType::parallel,
                                                        mlir::utils::IteratorType::reduction,
                                                        mlir::utils::IteratorType::parallel};
    mlir::Value init = Filled(out, 0);
    const bool is_float = IsFloat(out.dtype);
    auto generic = mlir::linalg::GenericOp::create(
        b_, loc_, mlir::TypeRange{init.getType()}, mlir::ValueRange{V(a), V(b)},
        mlir::ValueRange{init}, maps, iterators,
        [&](mlir::OpBuilder& nb, mlir::Location nloc, mlir::ValueRange args) {
          mlir::Value product =
              is_float ? mlir::arith::MulFOp::create(nb, nloc, args[0], args[1]).getResult()
                       : mlir::arith::MulIOp::create(nb, nloc, args[0], args[1]).getResult();
          mlir::Value sum =
              is_float ? mlir::arith::AddFOp::create(nb, nloc, args[2], product).getResult()
                       : mlir::arith::AddIOp::create(nb, nloc, args[2], product).getResult();
          mlir::linalg::YieldOp::create(nb, nloc, sum);
        });
    return I(generic.getResult(0));
  }

  IrValue Reduce(IrValue x, const std::vector<int64_t>& axes, ReduceKind kind,
                 const TensorType& out) override {
    mlir::MLIRContext* ctx = b_.getContext();
    mlir::Value v = V(x);
    const int rank = mlir::cast<mlir::RankedTensorType>(v.getType()).getRank();
    std::vector<mlir::AffineExpr> kept;
    std::vector<mlir::utils::IteratorType> iterators;
    for (int d = 0; d < rank; ++d) {
      const bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
      iterators.push_back(reduced ? mlir::utils::IteratorType::reduction
                                  : mlir::utils::IteratorType::parallel);
      if (!reduced) kept.push_back(mlir::getAffineDimExpr(d, ctx));
    }
    std::vector<mlir::AffineMap> maps = {mlir::AffineMap::getMultiDimIdentityMap(rank, ctx),
                                         mlir::AffineMap::get(rank, 0, kept, ctx)};
    mlir::Value init = Filled(out, Identity(kind, out.dtype));
    // An empty input (a reduced extent of 0): the identity, as Generic does; an empty loop range
    // trips bufferization.
    if (mlir::cast<mlir::RankedTensorType>(v.getType()).getNumElements() == 0 ||
        out.shape.NumElements() == 0) {
      return out.shape.NumElements() == 0 ? I(EmptyTensor(b_, loc_, out)) : I(init);
    }
    auto generic = mlir::linalg::GenericOp::create(
        b_, loc_, mlir::TypeRange{init.getType()}, mlir::ValueRange{v}, mlir::ValueRange{init},
        maps, iterators, [&](mlir::OpBuilder& nb, mlir::Location nloc, mlir::ValueRange args) {
          MlirScalarBuilder sb(nb, nloc);
          mlir::linalg::YieldOp::create(
              nb, nloc, V(Reassociable(sb.Apply(CombineOp(kind), I(args[1]), I(args[0])))));
        });
    return I(generic.getResult(0));
  }

 private:
  // A floating-point sum or product that accumulates a reduction may be reassociated: the order of
  // a reduction is not part of a graph's meaning, and without it LLVM cannot vectorize the loop
  // (each addition would wait for the previous one).
  static IrValue Reassociable(IrValue combined) {
    mlir::Operation* op = V(combined).getDefiningOp();
    if (auto add = mlir::dyn_cast_or_null<mlir::arith::AddFOp>(op))
      add.setFastmath(mlir::arith::FastMathFlags::reassoc);
    if (auto mul = mlir::dyn_cast_or_null<mlir::arith::MulFOp>(op))
      mul.setFastmath(mlir::arith::FastMathFlags::reassoc);
    return combined;
  }

  static ScalarOp CombineOp(ReduceKind kind) {
    switch (kind) {
      case ReduceKind::kSum: return ScalarOp::kAdd;
      case ReduceKind::kProd: return ScalarOp::kMul;
      case ReduceKind::kMax: return ScalarOp::kMax;
      case ReduceKind::kMin: return ScalarOp::kMin;
    }
    return ScalarOp::kAdd;
  }

  // The value a reduction starts from (Filled clamps the infinities to an integer type's range).
  static double Identity(ReduceKind kind, DType dtype) {
    switch (kind) {
      case ReduceKind::kSum: return 0;
      case ReduceKind::kProd: return 1;
      case ReduceKind::kMax:
        return dtype == DType::kBool ? 0 : IsFloat(dtype) ? -INFINITY : -9.2233720368547758e18;
      case ReduceKind::kMin:
        return dtype == DType::kBool ? 1 : IsFloat(dtype) ? INFINITY : 9.2233720368547758e18;
    }
    return 0;
  }

  void CheckIndices(IrValue indices, int64_t limit, const char* what) override {
    const TensorType type = TypeOf(indices);
    const int64_t n = type.shape.NumElements();
    if (n == 0) return;
    // The first position holding an out-of-range index, or n: one pass over the indices.
    IrValue flat = Reshape(indices, Shape({n}));
    IrValue first = Generic(
        {{flat, {AffineIndex::Loop(0)}}}, {n}, ReduceKind::kMin, TensorType{DType::kI64, Shape()},
        [n, limit](ScalarBuilder& b, const std::vector<IrValue>& x) {
          IrValue i = b.ToIndex(x[0]);
          IrValue bad =
              b.Apply(ScalarOp::kNot, b.Apply(ScalarOp::kAnd, NonNegative(b, i),
                                              b.Apply(ScalarOp::kLess, i, b.IndexConstant(limit))));
          return b.Select(bad, b.Convert(b.Index(0), DType::kI64), b.IntConstant(n, DType::kI64));
        });
    if (target_.is_gpu()) {
      // The position and the indices live in device memory: the runtime reads them (after the
      // kernels before it) and reports like kiln_rt_index_error. params: n, limit, index bytes.
      const int64_t index_bytes = DTypeSize(type.dtype);
      auto params_type = mlir::RankedTensorType::get({3}, b_.getI64Type());
      mlir::Value params = mlir::arith::ConstantOp::create(
          b_, loc_, params_type,
          mlir::DenseElementsAttr::get(params_type,
                                       llvm::ArrayRef<int64_t>{n, limit, index_bytes}));
      std::vector<mlir::Value> args = {
          runtime_context_,     ToBuffer(params),   StringConstant(node_.Describe()),
          StringConstant(what), ToBuffer(V(first)), ToBuffer(V(flat))};
      mlir::func::CallOp::create(b_, loc_, SiteDeclaration("kiln_rt_cuda_check_index", args),
                                 mlir::TypeRange{}, args);
      return;
    }
    mlir::Type i64 = b_.getI64Type();
    mlir::Value position = mlir::tensor::ExtractOp::create(b_, loc_, V(first), mlir::ValueRange{});
    mlir::Value n_value = mlir::arith::ConstantOp::create(b_, loc_, i64, b_.getI64IntegerAttr(n));
    mlir::Value found =
        mlir::arith::CmpIOp::create(b_, loc_, mlir::arith::CmpIPredicate::slt, position, n_value);
    auto if_op = mlir::scf::IfOp::create(b_, loc_, found, /*withElseRegion=*/false);
    mlir::OpBuilder::InsertionGuard guard(b_);
    b_.setInsertionPointToStart(&if_op.getThenRegion().front());
    mlir::Value at = mlir::arith::IndexCastOp::create(b_, loc_, b_.getIndexType(), position);
    mlir::Value index = mlir::tensor::ExtractOp::create(b_, loc_, V(flat), mlir::ValueRange{at});
    if (index.getType() != i64) index = mlir::arith::ExtSIOp::create(b_, loc_, i64, index);
    mlir::Value limit_value =
        mlir::arith::ConstantOp::create(b_, loc_, i64, b_.getI64IntegerAttr(limit));
    mlir::func::CallOp::create(
        b_, loc_, RuntimeFunction("kiln_rt_index_error"), mlir::TypeRange{},
        mlir::ValueRange{runtime_context_, StringConstant(node_.Describe()), StringConstant(what),
                         position, index, limit_value});
  }

  IrValue ExternalCall(const std::string& function, const std::vector<IrValue>& inputs,
                       const TensorType& out) override {
    // Typed buffers at a call site of its own, as for library calls, so bufferization and the
    // memory plan see what the call reads and writes; kiln-lower-library-calls then calls
    // `function` with pointers, and (kiln.effect) makes no prepare call for it. A call is opaque to
    // every pass: the effect stays, in order.
    mlir::MLIRContext* ctx = b_.getContext();
    auto result =
        mlir::memref::AllocOp::create(b_, loc_, MemRefTypeOf(out, ctx), b_.getI64IntegerAttr(64));
    std::vector<mlir::Value> args = {runtime_context_};
    for (const IrValue& in : inputs) args.push_back(ToBuffer(V(in)));
    args.push_back(result);
    const std::string site = SiteDeclaration(function, args);
    Module().lookupSymbol(site)->setAttr("kiln.effect", b_.getUnitAttr());
    mlir::func::CallOp::create(b_, loc_, site, mlir::TypeRange{}, args);
    return I(mlir::bufferization::ToTensorOp::create(b_, loc_, TensorTypeOf(out, ctx), result,
                                                     /*restrict=*/true, /*writable=*/true));
  }

  static IrValue NonNegative(ScalarBuilder& b, IrValue index) {
    return b.Apply(ScalarOp::kNot, b.Apply(ScalarOp::kLess, index, b.IndexConstant(0)));
  }

  // A scalar constant of `dtype` outside any region body.
  mlir::Value ScalarConstant(double value, DType dtype) {
    mlir::Type element = ElementType(dtype, b_.getContext());
    if (auto f = mlir::dyn_cast<mlir::FloatType>(element)) {
      return mlir::arith::ConstantOp::create(b_, loc_, element, b_.getFloatAttr(f, value));
    }
    return mlir::arith::ConstantOp::create(b_, loc_, element,
                                           IntAttr(element, static_cast<int64_t>(value)));
  }

  // A tensor of `type` filled with `value` (integers clamp to the type's range).
  mlir::Value Filled(const TensorType& type, double value) {
    mlir::Type element = ElementType(type.dtype, b_.getContext());
    mlir::Value scalar;
    if (mlir::isa<mlir::FloatType>(element) || (value > -9e18 && value < 9e18)) {
      scalar = ScalarConstant(value, type.dtype);
    } else {
      const unsigned bits = element.getIntOrFloatBitWidth();
      llvm::APInt v =
          value > 0 ? llvm::APInt::getSignedMaxValue(bits) : llvm::APInt::getSignedMinValue(bits);
      scalar = mlir::arith::ConstantOp::create(b_, loc_, element, b_.getIntegerAttr(element, v));
    }
    return mlir::linalg::FillOp::create(b_, loc_, scalar, EmptyTensor(b_, loc_, type)).getResult(0);
  }

  mlir::ModuleOp Module() {
    return b_.getInsertionBlock()->getParentOp()->getParentOfType<mlir::ModuleOp>();
  }

  mlir::Value ToBuffer(mlir::Value tensor) {
    auto type = mlir::cast<mlir::RankedTensorType>(tensor.getType());
    auto memref = mlir::MemRefType::get(type.getShape(), type.getElementType());
    return mlir::bufferization::ToBufferOp::create(b_, loc_, memref, tensor, b_.getUnitAttr());
  }

  // A declaration for one call site of the kernel hook `hook`, typed by the site's operands and
  // marked with the hook's name (kiln.library_hook) for kiln-lower-library-calls.
  std::string SiteDeclaration(const std::string& hook, const std::vector<mlir::Value>& args) {
    mlir::ModuleOp module = Module();
    std::string name;
    for (int i = 0; module.lookupSymbol(name = absl::StrCat(hook, "__site", i)); ++i) {
    }
    std::vector<mlir::Type> types;
    for (mlir::Value a : args) types.push_back(a.getType());
    mlir::OpBuilder mb(module.getBodyRegion());
    auto decl = mlir::func::FuncOp::create(mb, loc_, name, mb.getFunctionType(types, {}));
    decl.setPrivate();
    decl->setAttr("kiln.library_hook", mb.getStringAttr(hook));
    return name;
  }

  // The declaration of the runtime hook `name` (runtime/kiln_runtime.h); all hooks take the context
  // first and return nothing.
  llvm::StringRef RuntimeFunction(llvm::StringRef name) {
    mlir::ModuleOp module = Module();
    if (!module.lookupSymbol(name)) {
      mlir::OpBuilder mb(module.getBodyRegion());
      auto ptr = mlir::LLVM::LLVMPointerType::get(b_.getContext());
      mlir::Type i64 = b_.getI64Type();
      auto type = mb.getFunctionType({ptr, ptr, ptr, i64, i64, i64}, {});
      auto decl = mlir::func::FuncOp::create(mb, loc_, name, type);
      decl.setPrivate();
    }
    return name;
  }

  // A pointer to a NUL-terminated copy of `text` in the object's read-only data.
  mlir::Value StringConstant(const std::string& text) {
    mlir::ModuleOp module = Module();
    std::string symbol;
    for (int i = 0;; ++i) {
      symbol = absl::StrCat("kiln_str_", i);
      auto existing = module.lookupSymbol<mlir::LLVM::GlobalOp>(symbol);
      if (!existing) break;
      auto value = mlir::dyn_cast_or_null<mlir::StringAttr>(existing.getValueOrNull());
      if (value && value.getValue() == llvm::StringRef(text.c_str(), text.size() + 1)) break;
    }
    auto global = module.lookupSymbol<mlir::LLVM::GlobalOp>(symbol);
    if (!global) {
      mlir::OpBuilder mb(module.getBodyRegion());
      auto type = mlir::LLVM::LLVMArrayType::get(b_.getI8Type(), text.size() + 1);
      global = mlir::LLVM::GlobalOp::create(
          mb, loc_, type, /*isConstant=*/true, mlir::LLVM::Linkage::Internal, symbol,
          mb.getStringAttr(llvm::StringRef(text.c_str(), text.size() + 1)));
    }
    return mlir::LLVM::AddressOfOp::create(b_, loc_, global);
  }

  mlir::OpBuilder& b_;
  mlir::Location loc_;
  const Node& node_;
  std::vector<mlir::Value> inputs_;
  std::vector<TensorType> input_types_;
  std::vector<mlir::Value> outputs_;
  mlir::Value runtime_context_;
  const Target& target_;
  absl::Status status_;        // what a building block found wrong (an inconsistency of ours)
  LibraryEpilogue* epilogue_;  // may be null
};

}  // namespace

absl::StatusOr<std::vector<mlir::Value>> LowerNode(mlir::OpBuilder& b, const Node& node,
                                                   const std::vector<mlir::Value>& inputs,
                                                   const std::vector<TensorType>& input_types,
                                                   mlir::Value runtime_context,
                                                   const Target& target,
                                                   LibraryEpilogue* epilogue) {
  if (node.op->is_argument()) {
    return absl::InternalError(
        absl::StrCat(node.Describe(), " is bound by LowerGraph as a function argument"));
  }
  if (!node.op->lower) {
    return absl::UnimplementedError(
        absl::StrCat("no lowering for the ", target.name, " target yet"));
  }
  mlir::Location loc = mlir::NameLoc::get(b.getStringAttr(node.name));
  MlirLoweringContext lowering(b, loc, node, inputs, input_types, runtime_context, target,
                               epilogue);
  KILN_RETURN_IF_ERROR(node.op->lower(lowering));
  KILN_RETURN_IF_ERROR(lowering.status());
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (!lowering.outputs()[i]) {
      return absl::InternalError(absl::StrCat("lowering set no output ", i));
    }
  }
  return lowering.outputs();
}

}  // namespace kiln
