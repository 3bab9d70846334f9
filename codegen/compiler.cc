#include "codegen/compiler.h"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "codegen/cuda/gpu_pipeline.h"
#include "codegen/header.h"
#include "codegen/model_description.h"
#include "graph/status_macros.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
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

// What a generated header already names, or C++ will not take as a member's name: keywords, the
// classes' own members, the types and macros its code uses.
std::set<std::string> ReservedNames(const std::string& class_name) {
  std::set<std::string> names = {
      // C++17 keywords and alternative tokens.
      "alignas",
      "alignof",
      "and",
      "and_eq",
      "asm",
      "auto",
      "bitand",
      "bitor",
      "bool",
      "break",
      "case",
      "catch",
      "char",
      "char16_t",
      "char32_t",
      "class",
      "compl",
      "const",
      "constexpr",
      "const_cast",
      "continue",
      "decltype",
      "default",
      "delete",
      "do",
      "double",
      "dynamic_cast",
      "else",
      "enum",
      "explicit",
      "export",
      "extern",
      "false",
      "float",
      "for",
      "friend",
      "goto",
      "if",
      "inline",
      "int",
      "long",
      "mutable",
      "namespace",
      "new",
      "noexcept",
      "not",
      "not_eq",
      "nullptr",
      "operator",
      "or",
      "or_eq",
      "private",
      "protected",
      "public",
      "register",
      "reinterpret_cast",
      "return",
      "short",
      "signed",
      "sizeof",
      "static",
      "static_assert",
      "static_cast",
      "struct",
      "switch",
      "template",
      "this",
      "thread_local",
      "throw",
      "true",
      "try",
      "typedef",
      "typeid",
      "typename",
      "union",
      "unsigned",
      "using",
      "virtual",
      "void",
      "volatile",
      "wchar_t",
      "while",
      // C++20 keywords, so a header stays valid there too.
      "char8_t",
      "concept",
      "consteval",
      "constinit",
      "co_await",
      "co_return",
      "co_yield",
      "requires",
      // The classes' members (codegen/header.cc) and the template parameter of Set.
      "inputs",
      "variables",
      "outputs",
      "Run",
      "Reset",
      "Set",
      "set_cuda_graphs",
      "capture_error",
      "Download",
      "own_context",
      "context",
      "graph",
      "cuda_graphs",
      "runs",
      "dirty",
      "stale",
      "arena",
      "arena_device",
      "T",
      // Types and macros the header uses or includes.
      "std",
      "kiln",
      "kiln_generated",
      "int8_t",
      "int16_t",
      "int32_t",
      "int64_t",
      "uint8_t",
      "uint16_t",
      "uint32_t",
      "uint64_t",
      "size_t",
      "NULL",
      "assert",
      "errno",
      "EOF",
      "offsetof",
      "stdin",
      "stdout",
      "stderr",
  };
  names.insert(class_name);  // a member of the class's own name would be a constructor
  return names;
}

// The names an argument whose identifier is `id` takes in the header: accessor, member, device
// accessor and member (CUDA), shape and size constants.
std::vector<std::string> DerivedNames(const std::string& id) {
  const std::string camel = CamelCase(id);
  return {
      id, id + "_", id + "_device", id + "_device_", "k" + camel + "Shape", "k" + camel + "Size"};
}

// "dense/kernel" → "dense_kernel": letters, digits and single underscores, starting with a letter.
// Renamed ("class" → "class_2", a second "x" → "x_2") while any name it would take in the header is
// taken; what it takes is then added to `taken`. The runtime's own prefixes (kiln_, KILN_) get a
// t_.
std::string Identifier(const std::string& name, std::set<std::string>& taken) {
  std::string id;
  for (char c : name) {
    const char out = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    if (out == '_' && (id.empty() || id.back() == '_'))
      continue;  // "__" and a leading "_" are reserved
    id += out;
  }
  while (!id.empty() && id.back() == '_') id.pop_back();
  if (id.empty() || !std::isalpha(static_cast<unsigned char>(id[0])) ||
      absl::StartsWithIgnoreCase(id, "kiln_")) {
    id = "t_" + id;
  }
  std::string unique = id;
  auto free = [&taken](const std::string& candidate) {
    for (const std::string& derived : DerivedNames(candidate)) {
      if (taken.count(derived)) return false;
    }
    return true;
  };
  for (int n = 2; !free(unique); ++n) unique = absl::StrCat(id, "_", n);
  for (const std::string& derived : DerivedNames(unique)) taken.insert(derived);
  return unique;
}

std::string Print(mlir::ModuleOp module) {
  std::string s;
  llvm::raw_string_ostream os(s);
  module.print(os);
  return s;
}

}  // namespace

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

absl::Status CheckCompileOptions(const CompileOptions& options) {
  if (!IsIdentifier(options.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("name '", options.name, "' is not a C identifier (letters, digits, _)"));
  }
  return CheckTarget(options.target);
}

absl::StatusOr<CompiledGraph> CompileGraph(const Graph& graph, const CompileOptions& options) {
  KILN_RETURN_IF_ERROR(graph.status());
  KILN_RETURN_IF_ERROR(CheckCompileOptions(options));
  if (graph.outputs().empty()) {
    return absl::InvalidArgumentError(
        "the graph has no named outputs to compile (Graph::AddOutput)");
  }
  CompiledGraph compiled;
  compiled.training = !graph.training().updates.empty();
  std::vector<Tensor> outputs;
  for (const auto& [name, ref] : graph.outputs())
    outputs.push_back(Tensor(const_cast<Graph*>(&graph), ref));

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
  if (!gpu && options.initializer)
    KILN_RETURN_IF_ERROR(AddVariableInitializer(graph, sig, init, *module));
  if (options.emit_ir) compiled.mlir = Print(*module);
  compiled.seconds_lower = SecondsSince(start);

  start = std::chrono::steady_clock::now();
  PipelineOptions pipeline;
  pipeline.print_ir_after_all = options.print_ir_after_all;
  if (gpu) {
    KILN_ASSIGN_OR_RETURN(std::vector<GpuKernel> kernels,
                          CompileTensorsToPtx(*module, target, {}, pipeline));
    for (const GpuKernel& k : kernels)
      absl::StrAppend(&compiled.ptx, "// ---- kiln kernel module ", k.name, "\n", k.ptx, "\n");
    compiled.arena_bytes = ArenaBytes(*module, run);
    // Added after the kernels are made, so it stays host code: initial values are written on the
    // host, into the arrays the app uploads.
    if (options.initializer)
      KILN_RETURN_IF_ERROR(AddVariableInitializer(graph, sig, init, *module));
    KILN_RETURN_IF_ERROR(LowerGpuHostToLlvmDialect(*module, pipeline));
  } else {
    KILN_RETURN_IF_ERROR(CompileTensorsToLlvmDialect(*module, target, pipeline));
    compiled.arena_bytes = ArenaBytes(*module, run);
    if (options.initializer)
      compiled.arena_bytes = std::max(compiled.arena_bytes, ArenaBytes(*module, init));
  }
  KILN_RETURN_IF_ERROR(AddPackedEntry(*module, run));
  compiled.seconds_passes = SecondsSince(start);

  // The description, as data in the object and as the header's source.
  ModelDescription description;
  description.name = options.name;
  description.fingerprint = Fingerprint(graph);
  description.target = target.Spec();
  description.training = compiled.training;
  description.arena_bytes = compiled.arena_bytes;
  description.init_entry = options.initializer ? init : "";
  description.run_entry = run;
  description.prepare_entry = absl::StrCat("kiln_", options.name, "_prepare");
  std::set<std::string> taken = ReservedNames(CamelCase(options.name));
  for (int id : sig.placeholders) {
    const Node& n = graph.node(id);
    description.arguments.push_back(
        {n.name, Identifier(n.name, taken), KILN_ROLE_INPUT, n.outputs[0]});
  }
  for (int id : sig.variables) {
    const Node& n = graph.node(id);
    description.arguments.push_back(
        {n.name, Identifier(n.name, taken), KILN_ROLE_VARIABLE, n.outputs[0]});
  }
  for (const auto& [name, ref] : graph.outputs()) {
    description.arguments.push_back(
        {name, Identifier(name, taken), KILN_ROLE_OUTPUT, graph.type(ref)});
  }
  description.hooks = RuntimeHooksCalled(*module);
  compiled.description = SerializeModelDescription(description);
  EmbedModelDescription(*module, options.name, compiled.description);
  compiled.fingerprint = description.fingerprint;
  compiled.arguments = std::move(description.arguments);
  if (options.initializer) {
    KILN_ASSIGN_OR_RETURN(compiled.header, RenderHeader(compiled.description, options.source));
  }

  start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(compiled.object, EmitObject(*module, target));
  if (options.emit_ir) {
    KILN_ASSIGN_OR_RETURN(compiled.llvm_ir, EmitCode(*module, target, CodeKind::kLlvmIr));
    KILN_ASSIGN_OR_RETURN(compiled.assembly, EmitCode(*module, target, CodeKind::kAssembly));
  }
  compiled.seconds_codegen = SecondsSince(start);
  return compiled;
}

}  // namespace kiln
