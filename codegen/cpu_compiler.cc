#include "codegen/cpu_compiler.h"

#include <cctype>
#include <cstdio>
#include <chrono>
#include <map>
#include <set>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/status_macros.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "passes/gpu_pipeline.h"
#include "passes/graph_lowering.h"
#include "passes/pipeline.h"

namespace kiln {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool IsIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// "dense/kernel" → "dense_kernel"; made unique among `taken`.
std::string Identifier(const std::string& name, std::set<std::string>& taken) {
  std::string id;
  for (char c : name) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (id.empty() || std::isdigit(static_cast<unsigned char>(id[0]))) id = "t_" + id;
  std::string unique = id;
  for (int n = 2; taken.count(unique); ++n) unique = absl::StrCat(id, "_", n);
  taken.insert(unique);
  return unique;
}

std::string CamelCase(const std::string& snake) {
  std::string out;
  bool up = true;
  for (char c : snake) {
    if (c == '_') {
      up = true;
    } else {
      out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
      up = false;
    }
  }
  return out;
}

const char* CType(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "float";
    case DType::kF64: return "double";
    case DType::kF16:
    case DType::kBF16: return "uint16_t";
    case DType::kI8: return "int8_t";
    case DType::kI32: return "int32_t";
    case DType::kI64: return "int64_t";
    case DType::kBool: return "bool";
  }
  return "void";
}

// The runtime's name for a dtype (runtime/kiln_runtime.h).
const char* Kiln(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "KILN_F32";
    case DType::kF64: return "KILN_F64";
    case DType::kF16: return "KILN_F16";
    case DType::kBF16: return "KILN_BF16";
    case DType::kI8: return "KILN_I8";
    case DType::kI32: return "KILN_I32";
    case DType::kI64: return "KILN_I64";
    case DType::kBool: return "KILN_BOOL";
  }
  return "KILN_F32";
}

// FNV-1a over every node's op, name, output types and inputs.
std::string Fingerprint(const Graph& graph) {
  uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    h = (h ^ 0xff) * 0x100000001b3ull;  // separator
  };
  for (int id = 0; id < graph.num_nodes(); ++id) {
    const Node& n = graph.node(id);
    mix(n.op_name());
    mix(n.name);
    for (const TensorType& t : n.outputs) mix(t.ToString());
    for (const OutputRef& in : n.inputs) mix(absl::StrCat(in.node, ":", in.index));
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return absl::StrCat("kiln-graph-", hex);
}

std::string Print(mlir::ModuleOp module) {
  std::string s;
  llvm::raw_string_ostream os(s);
  module.print(os);
  return s;
}

}  // namespace

absl::StatusOr<CompiledGraph> CompileGraph(const Graph& graph, const CompileOptions& options) {
  KILN_RETURN_IF_ERROR(graph.status());
  if (!IsIdentifier(options.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("name '", options.name, "' is not a C identifier (letters, digits, _)"));
  }
  if (graph.outputs().empty()) {
    return absl::InvalidArgumentError("the graph has no named outputs to compile (Graph::AddOutput)");
  }
  CompiledGraph compiled;
  compiled.training = !graph.training().updates.empty();
  std::vector<Tensor> outputs;
  for (const auto& [name, ref] : graph.outputs()) outputs.push_back(Tensor(const_cast<Graph*>(&graph), ref));

  auto start = std::chrono::steady_clock::now();
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  const Target& target = options.target;
  const bool gpu = target.is_gpu();
  if (gpu) RegisterGpuDialects(registry);
  mlir::MLIRContext context(registry);
  const std::string run = absl::StrCat("kiln_", options.name, "_run");
  const std::string init = absl::StrCat("kiln_", options.name, "_init");
  LoweredSignature sig;
  KILN_ASSIGN_OR_RETURN(mlir::OwningOpRef<mlir::ModuleOp> module,
                        LowerGraph(graph, outputs, run, context, &sig, target, compiled.training));
  if (!gpu) KILN_RETURN_IF_ERROR(AddVariableInitializer(graph, sig, init, *module));
  if (options.emit_ir) compiled.mlir = Print(*module);
  compiled.seconds_lower = SecondsSince(start);

  start = std::chrono::steady_clock::now();
  PipelineOptions pipeline;
  pipeline.print_ir_after_all = options.print_ir_after_all;
  if (gpu) {
    KILN_ASSIGN_OR_RETURN(std::vector<GpuKernel> kernels, CompileTensorsToPtx(*module, target, {}, pipeline));
    for (const GpuKernel& k : kernels) absl::StrAppend(&compiled.ptx, "// ---- kiln kernel module ", k.name, "\n", k.ptx, "\n");
    compiled.arena_bytes = ArenaBytes(*module, run);
    // Added after the kernels are made, so it stays host code: initial values are written on the
    // host, into the arrays the app uploads.
    KILN_RETURN_IF_ERROR(AddVariableInitializer(graph, sig, init, *module));
    KILN_RETURN_IF_ERROR(LowerGpuHostToLlvmDialect(*module, pipeline));
  } else {
    KILN_RETURN_IF_ERROR(CompileTensorsToLlvmDialect(*module, target, pipeline));
    compiled.arena_bytes = std::max(ArenaBytes(*module, run), ArenaBytes(*module, init));
  }
  compiled.seconds_passes = SecondsSince(start);

  start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(compiled.object, EmitObject(*module, target));
  if (options.emit_ir) {
    KILN_ASSIGN_OR_RETURN(compiled.llvm_ir, EmitCode(*module, target, CodeKind::kLlvmIr));
    KILN_ASSIGN_OR_RETURN(compiled.assembly, EmitCode(*module, target, CodeKind::kAssembly));
  }
  compiled.seconds_codegen = SecondsSince(start);

  std::set<std::string> taken;
  for (int id : sig.placeholders) {
    const Node& n = graph.node(id);
    compiled.arguments.push_back({n.name, Identifier(n.name, taken), n.outputs[0], CompiledArgument::kInput});
  }
  for (int id : sig.variables) {
    const Node& n = graph.node(id);
    compiled.arguments.push_back({n.name, Identifier(n.name, taken), n.outputs[0], CompiledArgument::kVariable});
  }
  for (const auto& [name, ref] : graph.outputs()) {
    compiled.arguments.push_back({name, Identifier(name, taken), graph.type(ref), CompiledArgument::kOutput});
  }
  compiled.fingerprint = Fingerprint(graph);
  compiled.header = GenerateHeader(compiled, options);
  return compiled;
}

namespace {

// Each argument's shape and size, and the arena's size, as static constexpr members.
std::string ShapeConstants(const CompiledGraph& compiled) {
  std::string h;
  for (const CompiledArgument& a : compiled.arguments) {
    const char* kind = a.kind == CompiledArgument::kInput      ? "input"
                       : a.kind == CompiledArgument::kVariable ? "variable"
                                                               : "output";
    std::string camel = CamelCase(a.identifier);
    absl::StrAppend(&h, "  // ", kind, " '", a.name, "': ", a.type.ToString(), "\n");
    if (a.type.shape.rank() > 0) {
      absl::StrAppend(&h, "  static constexpr int64_t k", camel, "Shape[", a.type.shape.rank(), "] = {",
                      absl::StrJoin(a.type.shape.dims(), ", "), "};\n");
    }
    absl::StrAppend(&h, "  static constexpr std::size_t k", camel, "Size = ", a.type.shape.NumElements(),
                    ";\n");
  }
  absl::StrAppend(&h, "  // scratch memory for temporaries (the static memory plan)\n",
                  "  static constexpr std::size_t kArenaBytes = ", compiled.arena_bytes, ";\n");
  return h;
}

// The CUDA target's header: the C ABI (device addresses) and a class that owns the device arrays,
// with host copies the accessors read and write (see the comment it writes).
std::string CudaHeader(const CompiledGraph& compiled, const CompileOptions& options, const std::string& guard,
                       const std::vector<std::string>& run_params,
                       std::map<CompiledArgument::Kind, std::vector<std::string>>& tables) {
  const std::string cls = CamelCase(options.name), name = options.name;
  std::vector<std::string> init_params, run_args, init_args, upload, download, free_memory, alloc;
  int variable = 0;
  for (const CompiledArgument& a : compiled.arguments) {
    const std::string id = a.identifier, bytes = absl::StrCat("k", CamelCase(id), "Size * sizeof(", CType(a.type.dtype), ")");
    run_args.push_back(absl::StrCat("reinterpret_cast<", CType(a.type.dtype), "*>(", id, "_device_)"));
    alloc.push_back(absl::StrCat("    ", id, "_device_ = kiln_cuda_alloc(c, ", bytes, " + 1);\n"));
    free_memory.push_back(absl::StrCat("    kiln_cuda_free(c, ", id, "_device_);\n"));
    if (a.kind == CompiledArgument::kInput) {
      upload.push_back(absl::StrCat("    kiln_cuda_copy_to_device(c, ", id, "_device_, ", id, "_, ", bytes, ");\n"));
    } else if (a.kind == CompiledArgument::kOutput) {
      download.push_back(absl::StrCat("    kiln_cuda_copy_to_host(c, ", id, "_, ", id, "_device_, ", bytes, ");\n"));
    } else {
      init_params.push_back(absl::StrCat(CType(a.type.dtype), "* ", id));
      init_args.push_back(id + "_");
      upload.push_back(absl::StrCat("    if (dirty_[", variable, "]) kiln_cuda_copy_to_device(c, ", id, "_device_, ", id,
                                    "_, ", bytes, ");\n"));
      ++variable;
    }
  }
  run_args.push_back("c");
  run_args.push_back("reinterpret_cast<uint8_t*>(arena_device_)");
  std::string h = absl::StrCat(
      "// Generated by kilnc", options.source.empty() ? "" : " from " + options.source, " for CUDA (",
      options.target.gpu_chip, "). Do not edit.\n//\n",
      compiled.training
          ? "// A training step: each Run() computes the outputs and updates the variables in place.\n"
          : "// An inference graph: each Run() computes the outputs from the inputs and variables.\n",
      "// Needs the object file kilnc wrote beside this header and Kiln's runtime with its CUDA path\n",
      "// (//runtime:cuda; runtime/cuda.h: the driver, cuBLASLt and cuDNN are opened at run time).\n",
      "#ifndef ", guard, "\n#define ", guard, "\n\n#include <array>\n#include <cstddef>\n#include <cstdint>\n#include <string>\n\n",
      "#include \"runtime/cuda.h\"\n#include \"runtime/kiln_runtime.h\"\n#include \"runtime/runtime.h\"\n\n",
      "extern \"C\" {\n// Writes every variable's initial value into host arrays (upload them to the device).\nvoid kiln_",
      name, "_init(", absl::StrJoin(init_params, ", "), ");\n",
      "// Makes the library plans (cuBLASLt, cuDNN) ahead of the first run, on a CUDA context.\nvoid kiln_", name,
      "_prepare(kiln_context* context);\n",
      "// One call of the compiled graph, queued on the context's stream. Every array, and `arena`\n"
      "// (kArenaBytes), is a device address (kiln_cuda_alloc); errors land in the context's status.\nvoid kiln_",
      name, "_run(", absl::StrJoin(run_params, ", "), ");\n}\n\nnamespace kiln_generated {\n\n");
  absl::StrAppend(
      &h, "// Owns the device arrays of every input, variable and output, and the arena, on a CUDA context,\n",
      "// with a host copy of each array for the accessors. Run() uploads the inputs (and the variables\n",
      "// whose accessors were called since the last run), runs the step, and downloads the outputs; a\n",
      "// variable's accessor downloads it first when a run changed it. From the second Run() on, the step\n",
      "// is replayed from a CUDA graph captured once (set_cuda_graphs(false) to launch kernels one by\n",
      "// one). Allocate it on the heap (std::make_unique<", cls, ">()). Not thread-safe.\nclass ", cls,
      " {\n public:\n", ShapeConstants(compiled),
      "  // identifies the graph (checkpoints carry it)\n  static constexpr char kFingerprint[] = \"",
      compiled.fingerprint, "\";\n",
      "  static constexpr std::size_t kNumInputs = ", tables[CompiledArgument::kInput].size(),
      ", kNumVariables = ", tables[CompiledArgument::kVariable].size(),
      ", kNumOutputs = ", tables[CompiledArgument::kOutput].size(), ";\n\n",
      "  // `context`: a CUDA context (kiln_cuda_context_create) that outlives the model. Errors (no\n",
      "  // driver, no GPU, out of device memory) show in the first Run().\n",
      "  explicit ", cls, "(kiln::rt::Context* context) : context_(context) {\n",
      "    kiln_context* c = context_->get();\n", absl::StrJoin(alloc, ""),
      "    arena_device_ = kiln_cuda_alloc(c, kArenaBytes + 1);\n    Reset();\n    kiln_", name,
      "_prepare(c);\n  }\n  ~", cls, "() {\n    kiln_context* c = context_->get();\n",
      "    if (graph_ != nullptr) kiln_cuda_graph_destroy(c, graph_);\n", absl::StrJoin(free_memory, ""),
      "    kiln_cuda_free(c, arena_device_);\n  }\n  ", cls, "(const ", cls, "&) = delete;\n  ", cls,
      "& operator=(const ", cls, "&) = delete;\n\n",
      "  // Sets every variable to its initial value (uploaded at the next Run()).\n  void Reset() {\n    kiln_",
      name, "_init(", absl::StrJoin(init_args, ", "), ");\n    for (bool& d : dirty_) d = true;\n",
      "    for (bool& s : stale_) s = false;\n  }\n",
      "  // One step, synchronously; OUT_OF_RANGE names the op for an index out of range.\n",
      "  kiln::rt::Status Run() {\n    kiln_context* c = context_->get();\n", absl::StrJoin(upload, ""),
      "    for (bool& d : dirty_) d = false;\n",
      "    if (cuda_graphs_ && graph_ == nullptr && runs_ > 0 && kiln_context_status(c) == KILN_OK) {\n",
      "      kiln_cuda_capture_begin(c);\n      kiln_", name, "_run(", absl::StrJoin(run_args, ", "), ");\n",
      "      graph_ = kiln_cuda_capture_end(c);\n",
      "      if (graph_ == nullptr) {  // launch kernels one by one from now on, saying why once\n",
      "        capture_error_ = context_->TakeStatus().ToString();\n        cuda_graphs_ = false;\n      }\n    }\n",
      "    if (graph_ != nullptr) {\n      kiln_cuda_graph_launch(c, graph_);\n    } else {\n      kiln_", name,
      "_run(", absl::StrJoin(run_args, ", "), ");\n    }\n    ++runs_;\n", absl::StrJoin(download, ""),
      "    kiln_cuda_synchronize(c);\n", compiled.training ? "    for (bool& s : stale_) s = true;  // updated on the device\n" : "",
      "    return context_->TakeStatus();\n  }\n",
      "  void set_cuda_graphs(bool on) { cuda_graphs_ = on; }\n",
      "  // Why capturing the step into a CUDA graph failed, if it did (\"\" otherwise).\n",
      "  const std::string& capture_error() const { return capture_error_; }\n\n");
  variable = 0;
  for (const CompiledArgument& a : compiled.arguments) {
    const char* type = CType(a.type.dtype);
    const std::string id = a.identifier;
    if (a.kind == CompiledArgument::kOutput) {
      absl::StrAppend(&h, "  const ", type, "* ", id, "() const { return ", id, "_; }\n");
    } else if (a.kind == CompiledArgument::kInput) {
      absl::StrAppend(&h, "  ", type, "* ", id, "() { return ", id, "_; }\n");
      absl::StrAppend(&h, "  const ", type, "* ", id, "() const { return ", id, "_; }\n");
    } else {
      absl::StrAppend(&h, "  ", type, "* ", id, "() {\n    Download(", variable, ");\n    dirty_[", variable,
                      "] = true;\n    return ", id, "_;\n  }\n");
      absl::StrAppend(&h, "  const ", type, "* ", id, "() const {\n    Download(", variable, ");\n    return ", id,
                      "_;\n  }\n");
      ++variable;
    }
    absl::StrAppend(&h, "  uint64_t ", id, "_device() const { return ", id, "_device_; }\n");
  }
  absl::StrAppend(&h, "\n  // Every array's host copy with its name, dtype and shape (e.g. to save or load checkpoints);\n",
                  "  // variables() downloads them first and uploads them at the next Run().\n");
  for (auto [kind, method, count] :
       {std::make_tuple(CompiledArgument::kInput, "inputs", "kNumInputs"),
        std::make_tuple(CompiledArgument::kVariable, "variables", "kNumVariables"),
        std::make_tuple(CompiledArgument::kOutput, "outputs", "kNumOutputs")}) {
    const std::string entries = absl::StrJoin(tables[kind], ",\n             ");
    absl::StrAppend(&h, "  std::array<kiln_tensor, ", count, "> ", method, "() {\n",
                    kind == CompiledArgument::kVariable
                        ? "    for (std::size_t i = 0; i < kNumVariables; ++i) Download(i, /*wait=*/false), dirty_[i] = true;\n"
                          "    kiln_cuda_synchronize(context_->get());\n"
                        : "",
                    "    return {", entries.empty() ? "" : absl::StrCat("{", entries, "}"), "};\n  }\n");
  }
  absl::StrAppend(&h, "\n private:\n  // Variable i's host copy, current (with `wait`; else once the stream is synchronized).\n",
                  "  void Download(std::size_t i, bool wait = true) const {\n",
                  "    if (!stale_[i]) return;\n    kiln_context* c = context_->get();\n    switch (i) {\n");
  variable = 0;
  for (const CompiledArgument& a : compiled.arguments) {
    if (a.kind != CompiledArgument::kVariable) continue;
    absl::StrAppend(&h, "      case ", variable++, ": kiln_cuda_copy_to_host(c, ", a.identifier, "_, ", a.identifier,
                    "_device_, k", CamelCase(a.identifier), "Size * sizeof(", CType(a.type.dtype), ")); break;\n");
  }
  absl::StrAppend(&h, "      default: break;\n    }\n    if (wait) kiln_cuda_synchronize(c);  // errors show in the next Run()\n",
                  "    stale_[i] = false;\n  }\n\n  kiln::rt::Context* context_;\n",
                  "  kiln_cuda_graph* graph_ = nullptr;\n  bool cuda_graphs_ = true;\n  int64_t runs_ = 0;\n",
                  "  std::string capture_error_;\n  bool dirty_[kNumVariables + 1] = {};\n",
                  "  mutable bool stale_[kNumVariables + 1] = {};\n");
  for (const CompiledArgument& a : compiled.arguments) {
    absl::StrAppend(&h, "  alignas(64) ", a.kind == CompiledArgument::kVariable ? "mutable " : "",
                    CType(a.type.dtype), " ", a.identifier, "_[", std::max<int64_t>(1, a.type.shape.NumElements()),
                    "];\n  uint64_t ", a.identifier, "_device_ = 0;\n");
  }
  absl::StrAppend(&h, "  uint64_t arena_device_ = 0;\n};\n\n}  // namespace kiln_generated\n\n#endif  // ", guard, "\n");
  return h;
}

}  // namespace

std::string GenerateHeader(const CompiledGraph& compiled, const CompileOptions& options) {
  const std::string cls = CamelCase(options.name);
  std::string guard = "KILN_GENERATED_";
  for (char c : options.name) guard += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  guard += "_H_";

  std::vector<std::string> run_params, init_params, run_args, init_args;
  // kiln_tensor initializers per kind, for the inputs()/variables()/outputs() tables.
  std::map<CompiledArgument::Kind, std::vector<std::string>> tables;
  int64_t bytes = 0;
  for (const CompiledArgument& a : compiled.arguments) {
    const bool is_const = a.kind == CompiledArgument::kInput;
    run_params.push_back(absl::StrCat(is_const ? "const " : "", CType(a.type.dtype), "* ", a.identifier));
    run_args.push_back(a.identifier + "_");
    if (a.kind == CompiledArgument::kVariable) {
      init_params.push_back(absl::StrCat(CType(a.type.dtype), "* ", a.identifier));
      init_args.push_back(a.identifier + "_");
    }
    const std::string camel = CamelCase(a.identifier);
    tables[a.kind].push_back(absl::StrCat(
        "{\"", absl::CEscape(a.name), "\", ", Kiln(a.type.dtype), ", ", a.type.shape.rank(), ", ",
        a.type.shape.rank() > 0 ? absl::StrCat("k", camel, "Shape") : "nullptr", ", ",
        a.identifier, "_}"));
    bytes += a.type.shape.NumElements() * DTypeSize(a.type.dtype);
  }
  run_params.push_back("kiln_context* context");
  run_args.push_back("context_->get()");
  for (auto* params : {&run_params, &init_params}) params->push_back("uint8_t* arena");
  for (auto* args : {&run_args, &init_args}) args->push_back("arena_");
  bytes += compiled.arena_bytes;
  if (options.target.is_gpu()) return CudaHeader(compiled, options, guard, run_params, tables);

  std::string h = absl::StrCat(
      "// Generated by kilnc", options.source.empty() ? "" : " from " + options.source,
      ". Do not edit.\n//\n",
      compiled.training
          ? "// A training step: each Run() computes the outputs and updates the variables in place.\n"
          : "// An inference graph: each Run() computes the outputs from the inputs and variables.\n",
      "// Needs the object file kilnc wrote beside this header and Kiln's runtime (runtime/).\n",
      "#ifndef ", guard, "\n#define ", guard, "\n\n#include <array>\n#include <cstddef>\n#include <cstdint>\n\n",
      "#include \"runtime/kiln_runtime.h\"\n#include \"runtime/runtime.h\"\n\n",
      "extern \"C\" {\n// Sets every variable to its initial value.\nvoid kiln_", options.name, "_init(",
      absl::StrJoin(init_params, ", "), ");\n",
      "// One call of the compiled graph. Arrays are dense and row-major; run-time errors (e.g. an\n"
      "// index out of range) land in `context`'s status; `arena` is scratch memory of at least the\n"
      "// class's kArenaBytes, 64-byte aligned.\nvoid kiln_", options.name,
      "_run(", absl::StrJoin(run_params, ", "), ");\n",
      "// Makes the library kernels (e.g. oneDNN primitives) the graph calls, once per context, before\n"
      "// the first run; errors land in `context`'s status.\nvoid kiln_", options.name,
      "_prepare(kiln_context* context);\n}\n\nnamespace kiln_generated {\n\n");
  absl::StrAppend(&h, "// Owns every input, variable and output array (", bytes,
                  " bytes): allocate it on the heap,\n// e.g. std::make_unique<", cls,
                  ">(). Not thread-safe: use one instance per thread.\nclass ", cls, " {\n public:\n");
  absl::StrAppend(&h, ShapeConstants(compiled));
  absl::StrAppend(&h, "  static constexpr std::size_t kBytes = ", bytes, ";\n");
  absl::StrAppend(&h, "  // identifies the graph (checkpoints carry it)\n  static constexpr char kFingerprint[] = \"",
                  compiled.fingerprint, "\";\n");
  absl::StrAppend(&h, "  static constexpr std::size_t kNumInputs = ", tables[CompiledArgument::kInput].size(),
                  ", kNumVariables = ", tables[CompiledArgument::kVariable].size(),
                  ", kNumOutputs = ", tables[CompiledArgument::kOutput].size(), ";\n\n");
  absl::StrAppend(
      &h, "  // Runs on `context` (its threads; it receives run-time errors), or on a single-threaded one\n",
      "  // of its own. `context` must outlive the model.\n",
      "  explicit ", cls, "(kiln::rt::Context* context = nullptr)\n",
      "      : context_(context != nullptr ? context : &own_context_) {\n    Reset();\n    kiln_",
      options.name, "_prepare(context_->get());  // an error shows at the first Run()\n  }\n  ", cls,
      "(const ", cls, "&) = delete;\n  ", cls, "& operator=(const ", cls, "&) = delete;\n\n",
      "  // Sets every variable to its initial value.\n  void Reset() { kiln_", options.name, "_init(",
      absl::StrJoin(init_args, ", "), "); }\n",
      "  // One call of the compiled graph; OUT_OF_RANGE names the op for an index out of range (the\n"
      "  // outputs are then defined by the op's fallback, e.g. zero rows).\n"
      "  kiln::rt::Status Run() {\n    kiln_", options.name, "_run(", absl::StrJoin(run_args, ", "),
      ");\n    return context_->TakeStatus();\n  }\n\n");
  for (const CompiledArgument& a : compiled.arguments) {
    const char* type = CType(a.type.dtype);
    if (a.kind == CompiledArgument::kOutput) {
      absl::StrAppend(&h, "  const ", type, "* ", a.identifier, "() const { return ", a.identifier, "_; }\n");
    } else {
      absl::StrAppend(&h, "  ", type, "* ", a.identifier, "() { return ", a.identifier, "_; }\n");
      absl::StrAppend(&h, "  const ", type, "* ", a.identifier, "() const { return ", a.identifier, "_; }\n");
    }
  }
  absl::StrAppend(&h, "\n  // Every array with its name, dtype and shape (e.g. to save or load checkpoints).\n");
  for (auto [kind, method, count] :
       {std::make_tuple(CompiledArgument::kInput, "inputs", "kNumInputs"),
        std::make_tuple(CompiledArgument::kVariable, "variables", "kNumVariables"),
        std::make_tuple(CompiledArgument::kOutput, "outputs", "kNumOutputs")}) {
    const std::string entries = absl::StrJoin(tables[kind], ",\n             ");
    absl::StrAppend(&h, "  std::array<kiln_tensor, ", count, "> ", method, "() {\n    return {",
                    entries.empty() ? "" : absl::StrCat("{", entries, "}"), "};\n  }\n");
  }
  absl::StrAppend(&h, "\n private:\n  kiln::rt::Context own_context_;\n  kiln::rt::Context* context_;\n");
  for (const CompiledArgument& a : compiled.arguments) {
    absl::StrAppend(&h, "  alignas(64) ", CType(a.type.dtype), " ", a.identifier, "_[",
                    std::max<int64_t>(1, a.type.shape.NumElements()), "];\n");
  }
  absl::StrAppend(&h, "  alignas(64) uint8_t arena_[", std::max<int64_t>(1, compiled.arena_bytes), "];\n");
  absl::StrAppend(&h, "};\n\n}  // namespace kiln_generated\n\n#endif  // ", guard, "\n");
  return h;
}

}  // namespace kiln
