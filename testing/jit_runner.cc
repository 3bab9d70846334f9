#include "testing/jit_runner.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "codegen/cuda/gpu_pipeline.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/TargetSelect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "passes/graph_lowering.h"
#include "passes/pipeline.h"
#include "runtime/cuda.h"
#include "runtime/dnnl_kernels.h"
#include "runtime/kiln_runtime.h"
#include "runtime/runtime.h"

namespace kiln {

namespace {

Literal Unpack(const std::vector<char>& bytes, const TensorType& type) {
  Literal l(type.dtype, type.shape);
  for (int64_t i = 0; i < l.size(); ++i) {
    const char* p = bytes.data() + i * DTypeSize(type.dtype);
    switch (type.dtype) {
      case DType::kF32: {
        float f;
        std::memcpy(&f, p, 4);
        l.values[i] = f;
        break;
      }
      case DType::kF64: std::memcpy(&l.values[i], p, 8); break;
      case DType::kI32: {
        int32_t x;
        std::memcpy(&x, p, 4);
        l.values[i] = x;
        break;
      }
      case DType::kI64: {
        int64_t x;
        std::memcpy(&x, p, 8);
        l.values[i] = static_cast<double>(x);
        break;
      }
      case DType::kI8: {
        int8_t x;
        std::memcpy(&x, p, 1);
        l.values[i] = x;
        break;
      }
      case DType::kBool: {
        uint8_t x;
        std::memcpy(&x, p, 1);
        l.values[i] = x & 1;
        break;
      }
      default: break;
    }
  }
  return l;
}

// The context's status as an absl::Status, clearing it.
absl::Status TakeStatus(kiln_context* context) {
  const kiln_status_code code = kiln_context_status(context);
  if (code == KILN_OK) return absl::OkStatus();
  absl::Status s(static_cast<absl::StatusCode>(code), kiln_context_message(context));
  kiln_context_clear_status(context);
  return s;
}

struct HostSymbol {
  const char* name;
  void* address;
};

// MLIR's JIT for `module`, resolving the runtime hooks compiled code calls to `symbols`.
absl::StatusOr<std::unique_ptr<mlir::ExecutionEngine>> MakeEngine(mlir::ModuleOp module,
                                                                  std::vector<HostSymbol> symbols) {
  static const bool initialized = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialized;
  auto engine = mlir::ExecutionEngine::create(module);
  if (!engine) return absl::InternalError("JIT failed: " + llvm::toString(engine.takeError()));
  (*engine)->registerSymbols([symbols = std::move(symbols)](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap map;
    for (const HostSymbol& s : symbols) {
      map[interner(s.name)] = {llvm::orc::ExecutorAddr::fromPtr(s.address),
                               llvm::JITSymbolFlags::Exported};
    }
    return map;
  });
  return std::move(*engine);
}

// Calls compiled function `name` with `pointers` (each argument's value).
absl::Status Invoke(mlir::ExecutionEngine& engine, const char* name, std::vector<void*> pointers) {
  std::vector<void*> args;
  for (void*& p : pointers) args.push_back(&p);
  if (llvm::Error e = engine.invokePacked(name, args)) {
    return absl::InternalError("invoke failed: " + llvm::toString(std::move(e)));
  }
  return absl::OkStatus();
}

// The hooks compiled CPU code may call (the core runtime's and oneDNN's), or GPU host code (the
// core runtime's and the CUDA path's), with their addresses: from the runtime's table.
std::vector<HostSymbol> CpuHooks() {
  return {
#define KILN_HOOK(name, library, ...) KILN_CPU_HOOK_##library(name)
#define KILN_CPU_HOOK_CORE(name) HostSymbol{#name, reinterpret_cast<void*>(&name)},
#define KILN_CPU_HOOK_DNNL(name) HostSymbol{#name, reinterpret_cast<void*>(&name)},
#define KILN_CPU_HOOK_CUDA(name)
#include "runtime/hooks.def"
  };
}

std::vector<HostSymbol> GpuHooks() {
  return {
#define KILN_HOOK(name, library, ...) KILN_GPU_HOOK_##library(name)
#define KILN_GPU_HOOK_CORE(name) HostSymbol{#name, reinterpret_cast<void*>(&name)},
#define KILN_GPU_HOOK_DNNL(name)
#define KILN_GPU_HOOK_CUDA(name) HostSymbol{#name, reinterpret_cast<void*>(&name)},
#include "runtime/hooks.def"
  };
}

// AddJitFunction's functions (a map: its names stay where they are).
std::map<std::string, void*>& JitFunctions() {
  static auto* functions = new std::map<std::string, void*>();
  return *functions;
}

}  // namespace

void AddJitFunction(const std::string& name, void* address) { JitFunctions()[name] = address; }

struct JitGraph::Impl {
  const Graph* graph;
  mlir::MLIRContext context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  LoweredSignature signature;
  std::map<int, std::vector<char>> variables;  // by node id
  std::vector<char> arena;                     // the temporaries (kiln-plan-memory)
  std::unique_ptr<rt::Context> runtime;        // threads; run-time errors land here
};

JitGraph::JitGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JitGraph::~JitGraph() = default;

absl::StatusOr<std::unique_ptr<JitGraph>> JitGraph::Compile(const Graph& graph,
                                                            const std::vector<Tensor>& outputs,
                                                            bool apply_updates,
                                                            const Target& target, int num_threads,
                                                            bool split_reductions) {
  auto impl = std::make_unique<Impl>();
  impl->graph = &graph;
  impl->runtime = std::make_unique<rt::Context>(num_threads);
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  impl->context.appendDialectRegistry(registry);
  KILN_ASSIGN_OR_RETURN(
      mlir::OwningOpRef<mlir::ModuleOp> module,
      LowerGraph(graph, outputs, "graph", impl->context, &impl->signature, target, apply_updates));
  PipelineOptions pipeline;
  if (num_threads > 1)
    pipeline.parallel_min_work = 1;  // split every loop that can be: tests see it
  pipeline.split_reductions = split_reductions;
  pipeline.split_min_length = 64;  // so the small graphs of tests split too
  KILN_RETURN_IF_ERROR(CompileTensorsToLlvmDialect(*module, target, pipeline));
  impl->arena.resize(std::max<int64_t>(1, ArenaBytes(*module, "graph")));
  std::vector<HostSymbol> symbols = CpuHooks();
  for (const auto& [name, address] : JitFunctions()) symbols.push_back({name.c_str(), address});
  KILN_ASSIGN_OR_RETURN(impl->engine, MakeEngine(*module, std::move(symbols)));
  // Library kernels are made now, as the generated class's constructor does.
  KILN_RETURN_IF_ERROR(Invoke(*impl->engine, "graph_prepare", {impl->runtime->get()}));
  KILN_RETURN_IF_ERROR(TakeStatus(impl->runtime->get()));
  for (int id : impl->signature.variables) {
    // The stored initial value is already in the dtype's machine bytes.
    KILN_ASSIGN_OR_RETURN(const TensorData initial,
                          graph.node(id).op->initial_value(graph.node(id)));
    impl->variables[id].assign(initial.bytes().begin(), initial.bytes().end());
  }
  return std::unique_ptr<JitGraph>(new JitGraph(std::move(impl)));
}

absl::StatusOr<std::vector<Literal>> JitGraph::Run(const Feeds& feeds) {
  const Graph& g = *impl_->graph;
  const LoweredSignature& sig = impl_->signature;
  std::vector<std::vector<char>> inputs, outputs;
  for (int id : sig.placeholders) {
    auto it = feeds.find(g.node(id).name);
    if (it == feeds.end()) return absl::InvalidArgumentError("missing feed " + g.node(id).name);
    KILN_ASSIGN_OR_RETURN(std::vector<char> bytes, PackLiteral(it->second));
    inputs.push_back(std::move(bytes));
  }
  for (const Tensor& t : sig.outputs)
    outputs.emplace_back(t.shape().NumElements() * DTypeSize(t.dtype()));
  std::vector<void*> pointers;
  for (auto& b : inputs) pointers.push_back(b.data());
  for (int id : sig.variables) pointers.push_back(impl_->variables.at(id).data());
  for (auto& b : outputs) pointers.push_back(b.data());
  pointers.push_back(impl_->runtime->get());
  pointers.push_back(impl_->arena.data());
  KILN_RETURN_IF_ERROR(Invoke(*impl_->engine, "graph", std::move(pointers)));
  KILN_RETURN_IF_ERROR(TakeStatus(impl_->runtime->get()));
  std::vector<Literal> results;
  for (size_t i = 0; i < outputs.size(); ++i)
    results.push_back(Unpack(outputs[i], sig.outputs[i].type()));
  return results;
}

Literal JitGraph::variable(const std::string& name) const {
  const Node* node = impl_->graph->FindNode(name);
  return Unpack(impl_->variables.at(node->id), node->outputs[0]);
}

struct GpuJitGraph::Impl {
  const Graph* graph;
  mlir::MLIRContext context;
  std::unique_ptr<mlir::ExecutionEngine> engine;
  LoweredSignature signature;
  kiln_context* cuda = nullptr;  // not owned
  size_t kernels = 0;
  std::map<int, uint64_t> variables;  // device buffers by node id
  std::vector<uint64_t> inputs, outputs;
  uint64_t arena = 0;

  ~Impl() {
    for (const auto& [id, buffer] : variables) kiln_cuda_free(cuda, buffer);
    for (uint64_t b : inputs) kiln_cuda_free(cuda, b);
    for (uint64_t b : outputs) kiln_cuda_free(cuda, b);
    kiln_cuda_free(cuda, arena);
  }
};

namespace {

int64_t Bytes(const TensorType& t) {
  return std::max<int64_t>(1, t.shape.NumElements() * DTypeSize(t.dtype));
}

}  // namespace

GpuJitGraph::GpuJitGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuJitGraph::~GpuJitGraph() = default;
size_t GpuJitGraph::num_kernels() const { return impl_->kernels; }

absl::StatusOr<GpuHostModule> CompileGraphForGpu(const Graph& graph,
                                                 const std::vector<Tensor>& outputs,
                                                 const std::string& name,
                                                 mlir::MLIRContext& context, bool apply_updates,
                                                 const Target& target) {
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  RegisterGpuDialects(registry);
  context.appendDialectRegistry(registry);
  GpuHostModule result;
  KILN_ASSIGN_OR_RETURN(result.module, LowerGraph(graph, outputs, name, context, &result.signature,
                                                  target, apply_updates));
  KILN_ASSIGN_OR_RETURN(std::vector<GpuKernel> kernels,
                        CompileTensorsToPtx(*result.module, target));
  result.kernels = kernels.size();
  result.arena_bytes = ArenaBytes(*result.module, name);
  KILN_RETURN_IF_ERROR(LowerGpuHostToLlvmDialect(*result.module));
  return result;
}

absl::StatusOr<std::unique_ptr<GpuJitGraph>> GpuJitGraph::Compile(
    const Graph& graph, const std::vector<Tensor>& outputs, kiln_context* cuda_context,
    bool apply_updates) {
  auto impl = std::make_unique<Impl>();
  impl->graph = &graph;
  impl->cuda = cuda_context;
  KILN_RETURN_IF_ERROR(TakeStatus(cuda_context));
  KILN_ASSIGN_OR_RETURN(GpuHostModule host,
                        CompileGraphForGpu(graph, outputs, "graph", impl->context, apply_updates));
  impl->kernels = host.kernels;
  impl->signature = host.signature;
  const int64_t arena_bytes = host.arena_bytes;
  KILN_ASSIGN_OR_RETURN(impl->engine, MakeEngine(*host.module, GpuHooks()));
  KILN_RETURN_IF_ERROR(Invoke(*impl->engine, "graph_prepare", {cuda_context}));
  // Device buffers; variables start at their initializers' values.
  const LoweredSignature& sig = impl->signature;
  for (int id : sig.placeholders)
    impl->inputs.push_back(kiln_cuda_alloc(cuda_context, Bytes(graph.node(id).outputs[0])));
  for (int id : sig.variables) {
    const Node& n = graph.node(id);
    const uint64_t buffer = kiln_cuda_alloc(cuda_context, Bytes(n.outputs[0]));
    KILN_ASSIGN_OR_RETURN(const TensorData initial, n.op->initial_value(n));
    const std::string_view bytes = initial.bytes();
    if (!bytes.empty()) kiln_cuda_copy_to_device(cuda_context, buffer, bytes.data(), bytes.size());
    impl->variables[id] = buffer;
  }
  for (const Tensor& t : sig.outputs)
    impl->outputs.push_back(kiln_cuda_alloc(cuda_context, Bytes(t.type())));
  // The arena starts zeroed (device memory does not): runs are then reproducible.
  const std::vector<char> zeros(std::max<int64_t>(1, arena_bytes), 0);
  impl->arena = kiln_cuda_alloc(cuda_context, zeros.size());
  kiln_cuda_copy_to_device(cuda_context, impl->arena, zeros.data(), zeros.size());
  kiln_cuda_synchronize(cuda_context);
  KILN_RETURN_IF_ERROR(TakeStatus(cuda_context));
  return std::unique_ptr<GpuJitGraph>(new GpuJitGraph(std::move(impl)));
}

absl::StatusOr<std::vector<Literal>> GpuJitGraph::Run(const Feeds& feeds) {
  const Graph& g = *impl_->graph;
  const LoweredSignature& sig = impl_->signature;
  kiln_context* cuda = impl_->cuda;
  for (size_t i = 0; i < sig.placeholders.size(); ++i) {
    const Node& n = g.node(sig.placeholders[i]);
    auto it = feeds.find(n.name);
    if (it == feeds.end()) return absl::InvalidArgumentError("missing feed " + n.name);
    KILN_ASSIGN_OR_RETURN(std::vector<char> bytes, PackLiteral(it->second));
    if (!bytes.empty())
      kiln_cuda_copy_to_device(cuda, impl_->inputs[i], bytes.data(), bytes.size());
  }
  std::vector<void*> pointers;
  for (uint64_t b : impl_->inputs) pointers.push_back(reinterpret_cast<void*>(b));
  for (int id : sig.variables) pointers.push_back(reinterpret_cast<void*>(impl_->variables.at(id)));
  for (uint64_t b : impl_->outputs) pointers.push_back(reinterpret_cast<void*>(b));
  pointers.push_back(cuda);
  pointers.push_back(reinterpret_cast<void*>(impl_->arena));
  KILN_RETURN_IF_ERROR(Invoke(*impl_->engine, "graph", std::move(pointers)));
  std::vector<std::vector<char>> bytes;
  for (size_t i = 0; i < sig.outputs.size(); ++i) {
    const TensorType type = sig.outputs[i].type();
    bytes.emplace_back(type.shape.NumElements() * DTypeSize(type.dtype));
    if (!bytes.back().empty())
      kiln_cuda_copy_to_host(cuda, bytes.back().data(), impl_->outputs[i], bytes.back().size());
  }
  kiln_cuda_synchronize(cuda);
  KILN_RETURN_IF_ERROR(TakeStatus(cuda));
  std::vector<Literal> results;
  for (size_t i = 0; i < sig.outputs.size(); ++i)
    results.push_back(Unpack(bytes[i], sig.outputs[i].type()));
  return results;
}

absl::StatusOr<Literal> GpuJitGraph::variable(const std::string& name) const {
  const Node* node = impl_->graph->FindNode(name);
  if (node == nullptr || !impl_->variables.count(node->id))
    return absl::NotFoundError("no variable " + name);
  std::vector<char> bytes(node->outputs[0].shape.NumElements() * DTypeSize(node->outputs[0].dtype));
  if (!bytes.empty())
    kiln_cuda_copy_to_host(impl_->cuda, bytes.data(), impl_->variables.at(node->id), bytes.size());
  kiln_cuda_synchronize(impl_->cuda);
  KILN_RETURN_IF_ERROR(TakeStatus(impl_->cuda));
  return Unpack(bytes, node->outputs[0]);
}

}  // namespace kiln
