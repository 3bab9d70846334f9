// WriteGpuCase (testing/jit_runner.h): a compiled GPU case and the interpreter's results, for
// test/gpu/gpu_case_runner.cc on a GPU machine.
#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "codegen/object_emitter.h"
#include "graph/interpreter.h"
#include "graph/status_macros.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "testing/jit_runner.h"

namespace kiln {
namespace {

// Adds `name_packed(void** args)`, which calls `name` with *args[0], *args[1], ...: the runner
// calls functions of any arity through it.
absl::Status AddPackedEntry(mlir::ModuleOp module, const std::string& name) {
  auto fn = module.lookupSymbol<mlir::LLVM::LLVMFuncOp>(name);
  if (!fn) return absl::InternalError("no function " + name);
  mlir::MLIRContext* ctx = module.getContext();
  auto ptr = mlir::LLVM::LLVMPointerType::get(ctx);
  for (mlir::Type t : fn.getFunctionType().getParams()) {
    if (t != ptr) return absl::InternalError(name + " takes an argument that is not a pointer");
  }
  mlir::OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());
  const mlir::Location loc = fn.getLoc();
  auto packed = mlir::LLVM::LLVMFuncOp::create(
      b, loc, name + "_packed",
      mlir::LLVM::LLVMFunctionType::get(mlir::LLVM::LLVMVoidType::get(ctx), {ptr}));
  mlir::Block* entry = packed.addEntryBlock(b);
  b.setInsertionPointToStart(entry);
  llvm::SmallVector<mlir::Value> args;
  for (unsigned i = 0; i < fn.getFunctionType().getNumParams(); ++i) {
    mlir::Value slot =
        mlir::LLVM::GEPOp::create(b, loc, ptr, ptr, entry->getArgument(0),
                                  llvm::ArrayRef<mlir::LLVM::GEPArg>{static_cast<int32_t>(i)});
    args.push_back(mlir::LLVM::LoadOp::create(b, loc, ptr, slot));
  }
  mlir::LLVM::CallOp::create(b, loc, fn, args);
  mlir::LLVM::ReturnOp::create(b, loc, mlir::ValueRange{});
  return absl::OkStatus();
}

absl::Status AppendPacked(std::string& out, const Literal& l) {
  KILN_ASSIGN_OR_RETURN(std::vector<char> bytes, PackLiteral(l));
  out.append(bytes.data(), bytes.size());
  return absl::OkStatus();
}

// Every GpuCaseStride-th element of `l`.
absl::Status AppendSampled(std::string& out, const Literal& l, int64_t sample_stride) {
  const int64_t stride = GpuCaseStride(l.size(), sample_stride);
  Literal sampled(l.dtype, Shape({(l.size() + stride - 1) / stride}));
  for (int64_t i = 0; i < sampled.size(); ++i) sampled.values[i] = l.values[i * stride];
  return AppendPacked(out, sampled);
}

absl::Status WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
  f.close();
  if (!f) return absl::InternalError("cannot write " + path);
  return absl::OkStatus();
}

}  // namespace

std::string GpuCaseDirectory(const std::string& test_name) {
  const char* root = std::getenv("KILN_GPU_CASES");
  if (root == nullptr || *root == '\0') return "";
  std::string base;
  for (char c : test_name) base += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  base = base.substr(0, 80);
  static std::map<std::string, int> counts;
  return absl::StrCat(root, "/", base, "_", counts[base]++);
}

absl::Status WriteGpuCase(const std::string& dir, const Graph& graph, const GpuCase& spec) {
  mlir::MLIRContext context;
  KILN_ASSIGN_OR_RETURN(GpuHostModule host, CompileGraphForGpu(graph, spec.outputs, "kiln_case_run",
                                                               context, spec.apply_updates));
  KILN_RETURN_IF_ERROR(AddPackedEntry(*host.module, "kiln_case_run"));
  // The CUDA target's host code: x86-64-v3, which the GPU machines' processors run.
  KILN_ASSIGN_OR_RETURN(std::string object, EmitObject(*host.module, *ParseTarget("cuda")));

  // The interpreter's results, step by step.
  KILN_ASSIGN_OR_RETURN(Interpreter interpreter, Interpreter::Create(graph));
  const LoweredSignature& sig = host.signature;
  std::ostringstream manifest;
  manifest << "kiln-gpu-case 1\n"
           << "tolerance " << spec.tolerance << "\n"
           << "arena " << host.arena_bytes << "\n"
           << "kernels " << host.kernels << "\n"
           << "training " << (spec.apply_updates && spec.check_variables ? 1 : 0) << "\n"
           << "generated_feeds " << spec.generated_feeds << "\n"
           << "sample_stride " << spec.sample_stride << "\n";
  if (!spec.benchmark.empty()) manifest << "benchmark " << spec.benchmark << "\n";
  auto describe = [&](const char* kind, const std::string& name, const TensorType& t) {
    manifest << kind << " " << DTypeName(t.dtype) << " " << DTypeSize(t.dtype) << " "
             << t.shape.NumElements() << " " << name << "\n";
  };
  for (int id : sig.placeholders) describe("input", graph.node(id).name, graph.node(id).outputs[0]);
  for (int id : sig.variables) describe("variable", graph.node(id).name, graph.node(id).outputs[0]);
  for (size_t i = 0; i < sig.outputs.size(); ++i)
    describe("output", absl::StrCat("output", i), sig.outputs[i].type());
  manifest << "steps " << spec.steps << "\n";

  std::string data;
  auto variable = [&](int id) -> const Literal& {
    return interpreter.variables().at(graph.node(id).name);
  };
  for (int id : sig.variables) KILN_RETURN_IF_ERROR(AppendPacked(data, variable(id)));
  Feeds feeds = spec.feeds;
  for (size_t k = 0; k < sig.placeholders.size(); ++k) {
    const Node& n = graph.node(sig.placeholders[k]);
    if (spec.generated_feeds) {
      if (n.outputs[0].dtype != DType::kF32)
        return absl::InvalidArgumentError("generated feeds must be f32: " + n.name);
      Literal l(DType::kF32, n.outputs[0].shape);
      for (int64_t i = 0; i < l.size(); ++i) l.values[i] = GpuCaseValue(static_cast<int>(k), i);
      feeds[n.name] = std::move(l);
      continue;
    }
    auto it = feeds.find(n.name);
    if (it == feeds.end()) return absl::InvalidArgumentError("missing feed " + n.name);
    KILN_RETURN_IF_ERROR(AppendPacked(data, it->second));
  }
  for (int step = 0; step < spec.steps; ++step) {
    KILN_ASSIGN_OR_RETURN(std::vector<Literal> results,
                          spec.apply_updates ? interpreter.RunTrainingStep(feeds, sig.outputs)
                                             : interpreter.Run(feeds, sig.outputs));
    for (const Literal& r : results)
      KILN_RETURN_IF_ERROR(AppendSampled(data, r, spec.sample_stride));
  }
  if (spec.apply_updates && spec.check_variables) {
    for (int id : sig.variables)
      KILN_RETURN_IF_ERROR(AppendSampled(data, variable(id), spec.sample_stride));
  }
  ::mkdir(dir.c_str(), 0755);
  KILN_RETURN_IF_ERROR(WriteFile(dir + "/case.o", object));
  KILN_RETURN_IF_ERROR(WriteFile(dir + "/data.bin", data));
  return WriteFile(dir + "/manifest.txt", manifest.str());
}

}  // namespace kiln
