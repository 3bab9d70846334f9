#include "codegen/model_description.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/Object/Wasm.h"
#include "llvm/Support/MemoryBuffer.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "runtime/little_endian.h"

namespace kiln {
namespace {

constexpr size_t kHeaderBytes = 68, kArgBytes = 32;

static_assert(KILN_F32 == 1 && static_cast<int>(DType::kF32) == 0 && KILN_BOOL == 8 &&
                  static_cast<int>(DType::kBool) == 7,
              "kiln_dtype and DType disagree");

void Put32(std::string& s, size_t at, uint64_t v) { rt::PutLittleEndian(&s[at], v, 4); }
void Put64(std::string& s, size_t at, uint64_t v) { rt::PutLittleEndian(&s[at], v, 8); }

}  // namespace

kiln_dtype RuntimeDType(DType dtype) {
  return static_cast<kiln_dtype>(static_cast<int>(dtype) + 1);
}

std::string SerializeModelDescription(const ModelDescription& d) {
  // Fixed-size parts first (header, argument records, hook offsets, dims), then the strings.
  const size_t args_at = kHeaderBytes;
  const size_t hooks_at = args_at + d.arguments.size() * kArgBytes;
  size_t dims_at = hooks_at + d.hooks.size() * 4;
  dims_at = (dims_at + 7) / 8 * 8;
  size_t strings_at = dims_at;
  for (const ModelDescription::Argument& a : d.arguments) strings_at += 8 * a.type.shape.rank();
  std::string out(strings_at, '\0');
  std::map<std::string, uint32_t> strings;  // each string once
  auto string = [&](const std::string& s) -> uint32_t {
    auto [it, added] = strings.emplace(s, static_cast<uint32_t>(out.size()));
    if (added) out.append(s.c_str(), s.size() + 1);
    return it->second;
  };
  out.replace(0, 8, "KILNMODL");
  Put32(out, 8, KILN_MODEL_ABI_VERSION);
  Put32(out, 16, string(d.name));
  Put32(out, 20, string(d.fingerprint));
  Put32(out, 24, string(d.target));
  Put32(out, 28, d.training ? 1 : 0);
  Put64(out, 32, static_cast<uint64_t>(d.arena_bytes));
  Put32(out, 40, string(d.init_entry));
  Put32(out, 44, string(d.run_entry));
  Put32(out, 48, string(d.prepare_entry));
  Put32(out, 52, d.arguments.size());
  Put32(out, 56, args_at);
  Put32(out, 60, d.hooks.size());
  Put32(out, 64, hooks_at);
  size_t dims = dims_at;
  for (size_t i = 0; i < d.arguments.size(); ++i) {
    const ModelDescription::Argument& a = d.arguments[i];
    const size_t at = args_at + i * kArgBytes;
    Put32(out, at, string(a.name));
    Put32(out, at + 4, string(a.identifier));
    Put32(out, at + 8, a.role);
    Put32(out, at + 12, RuntimeDType(a.type.dtype));
    Put32(out, at + 16, a.type.shape.rank());
    Put32(out, at + 20, dims);
    Put64(out, at + 24, a.type.shape.NumElements() * DTypeSize(a.type.dtype));
    for (int64_t extent : a.type.shape.dims()) {
      Put64(out, dims, static_cast<uint64_t>(extent));
      dims += 8;
    }
  }
  for (size_t i = 0; i < d.hooks.size(); ++i) Put32(out, hooks_at + 4 * i, string(d.hooks[i]));
  Put32(out, 12, out.size());
  return out;
}

void EmbedModelDescription(mlir::ModuleOp module, const std::string& name,
                           const std::string& serialized) {
  mlir::MLIRContext* context = module.getContext();
  mlir::OpBuilder b(module.getBodyRegion());
  mlir::Location loc = module.getLoc();
  auto type = mlir::LLVM::LLVMArrayType::get(b.getI8Type(), serialized.size());
  auto global = mlir::LLVM::GlobalOp::create(
      b, loc, type, /*isConstant=*/true, mlir::LLVM::Linkage::Internal,
      absl::StrCat("kiln_", name, "_model"), b.getStringAttr(serialized),
      /*alignment=*/8);
  global.setSectionAttr(b.getStringAttr(kModelSection));
  auto ptr = mlir::LLVM::LLVMPointerType::get(context);
  auto function =
      mlir::LLVM::LLVMFuncOp::create(b, loc, absl::StrCat("kiln_", name, "_model_description"),
                                     mlir::LLVM::LLVMFunctionType::get(ptr, {ptr}));
  mlir::Block* entry = function.addEntryBlock(b);
  b.setInsertionPointToStart(entry);
  mlir::Value size = mlir::LLVM::ConstantOp::create(
      b, loc, b.getI64Type(), b.getI64IntegerAttr(static_cast<int64_t>(serialized.size())));
  mlir::LLVM::StoreOp::create(b, loc, size, entry->getArgument(0));
  mlir::LLVM::ReturnOp::create(b, loc,
                               mlir::ValueRange{mlir::LLVM::AddressOfOp::create(b, loc, global)});
}

absl::Status AddPackedEntry(mlir::ModuleOp module, const std::string& run) {
  auto callee = module.lookupSymbol<mlir::LLVM::LLVMFuncOp>(run);
  if (!callee) return absl::InvalidArgumentError(absl::StrCat("no function '", run, "'"));
  mlir::LLVM::LLVMFunctionType type = callee.getFunctionType();
  const unsigned n = type.getNumParams();
  auto ptr = mlir::LLVM::LLVMPointerType::get(module.getContext());
  for (mlir::Type param : type.getParams()) {
    if (param != ptr)
      return absl::InvalidArgumentError(absl::StrCat("'", run, "' takes a non-pointer"));
  }
  if (n < 2)
    return absl::InvalidArgumentError(absl::StrCat("'", run, "' takes no context and arena"));
  mlir::OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  mlir::Location loc = module.getLoc();
  auto function = mlir::LLVM::LLVMFuncOp::create(
      b, loc, run + "_packed",
      mlir::LLVM::LLVMFunctionType::get(mlir::LLVM::LLVMVoidType::get(module.getContext()),
                                        {ptr, ptr, ptr}));
  mlir::Block* entry = function.addEntryBlock(b);
  b.setInsertionPointToStart(entry);
  std::vector<mlir::Value> args;
  for (unsigned i = 0; i + 2 < n; ++i) {
    mlir::Value slot =
        mlir::LLVM::GEPOp::create(b, loc, ptr, ptr, entry->getArgument(0),
                                  llvm::ArrayRef<mlir::LLVM::GEPArg>{static_cast<int32_t>(i)});
    args.push_back(mlir::LLVM::LoadOp::create(b, loc, ptr, slot));
  }
  args.push_back(entry->getArgument(1));
  args.push_back(entry->getArgument(2));
  mlir::LLVM::CallOp::create(b, loc, callee, args);
  mlir::LLVM::ReturnOp::create(b, loc, mlir::ValueRange{});
  return absl::OkStatus();
}

std::vector<std::string> RuntimeHooksCalled(mlir::ModuleOp module) {
  std::vector<std::string> hooks;
  for (auto function : module.getOps<mlir::LLVM::LLVMFuncOp>()) {
    const std::string symbol = function.getSymName().str();
    if (function.isExternal() && symbol.rfind("kiln_rt_", 0) == 0) hooks.push_back(symbol);
  }
  std::sort(hooks.begin(), hooks.end());
  return hooks;
}

absl::StatusOr<std::string> ReadModelDescription(const std::string& object) {
  llvm::MemoryBufferRef buffer(llvm::StringRef(object.data(), object.size()), "object");
  llvm::Expected<std::unique_ptr<llvm::object::ObjectFile>> file =
      llvm::object::ObjectFile::createObjectFile(buffer);
  if (!file) {
    return absl::InvalidArgumentError("not an object file: " + llvm::toString(file.takeError()));
  }
  // A wasm object keeps each named global as a data segment of its own.
  if (auto* wasm = llvm::dyn_cast<llvm::object::WasmObjectFile>(file->get())) {
    for (const llvm::object::WasmSegment& segment : wasm->dataSegments()) {
      if (segment.Data.Name == kModelSection) {
        return std::string(reinterpret_cast<const char*>(segment.Data.Content.data()),
                           segment.Data.Content.size());
      }
    }
  } else {
    for (const llvm::object::SectionRef& section : (*file)->sections()) {
      llvm::Expected<llvm::StringRef> section_name = section.getName();
      if (!section_name || *section_name != kModelSection) {
        if (!section_name) llvm::consumeError(section_name.takeError());
        continue;
      }
      llvm::Expected<llvm::StringRef> contents = section.getContents();
      if (!contents)
        return absl::InvalidArgumentError("unreadable section: " +
                                          llvm::toString(contents.takeError()));
      return contents->str();
    }
  }
  return absl::NotFoundError(
      absl::StrCat("the object has no model description (no ", kModelSection, " section)"));
}

}  // namespace kiln
