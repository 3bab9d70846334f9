// The CUDA kernel pipeline on a machine without a GPU: every kernel of representative graphs (and of
// whole Fashion-MNIST training steps) is generated as PTX and accepted by the toolkit's ptxas for
// sm_90. Running the kernels needs a GPU (test/gpu/, not written yet). Tagged "cuda": test.sh runs it
// only where the CUDA toolkit is installed.
#include "passes/gpu_pipeline.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "catch2/catch.hpp"
#include "examples/fashion_models.h"
#include "graph/graph.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "graph/types.h"
#include "llvm/ExecutionEngine/Orc/Mangling.h"
#include "llvm/Support/TargetSelect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "passes/graph_lowering.h"
#include "passes/pipeline.h"
#include "passes/ptx_check.h"
#include "runtime/cuda.h"
#include "runtime/runtime.h"
#include "test/status_matchers.h"
#include "test/temp_files.h"

namespace kiln {
namespace {

using testing::RequireValidPtx;

absl::StatusOr<std::vector<GpuKernel>> Kernels(const Graph& g, const std::vector<Tensor>& outputs,
                                               bool training = false) {
  return testing::CompileGraphToPtx(g, outputs, training);
}

TEST_CASE("Elementwise, reductions, softmax and layernorm become valid sm_90 kernels") {
  Graph g;
  // 33 columns: the element count is no multiple of the block size, so the kernels guard it.
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {64, 33});
  Tensor a = ops::Placeholder(g, "a", DType::kF32, {33});
  Tensor gamma = ops::Placeholder(g, "gamma", DType::kF32, {33});
  std::vector<Tensor> outputs = {
      ops::Gelu(x * a + a),                   // erf: libdevice
      ops::ReduceSum(x, {1}),                 // a serial loop per thread
      ops::ReduceMax(x, {0}),
      ops::Softmax(x),
      ops::LogSoftmax(x),
      ops::LayerNorm(x, gamma, a),
      ops::Tanh(ops::Exp(x)),
  };
  auto kernels = Kernels(g, outputs);
  REQUIRE_THAT(kernels.status(), IsOk());
  RequireValidPtx(*kernels, outputs.size());
}

TEST_CASE("Matmuls, convolutions and pools as loops become valid sm_90 kernels") {
  Graph g;
  Tensor a = ops::Placeholder(g, "a", DType::kF32, {8, 5});
  Tensor b = ops::Placeholder(g, "b", DType::kF32, {7, 5});
  Tensor img = ops::Placeholder(g, "img", DType::kF32, {2, 9, 9, 3});
  Tensor f = ops::Placeholder(g, "f", DType::kF32, {3, 3, 3, 4});
  ops::Conv2DOptions same;
  same.padding = "SAME";
  std::vector<Tensor> outputs = {ops::MatMul(a, b, false, true), ops::MaxPool2D(ops::Relu(ops::Conv2D(img, f, same)))};
  auto kernels = Kernels(g, outputs);
  REQUIRE_THAT(kernels.status(), IsOk());
  RequireValidPtx(*kernels, 2);
}

// Integer labels, as the trainer feeds them: range-checked on the device.
TEST_CASE("Whole Fashion-MNIST training steps (SGD) become valid sm_90 kernels") {
  for (bool cnn : {false, true}) {
    INFO((cnn ? "CNN" : "MLP"));
    Graph g;
    layers::Model model(g, 2);
    Tensor images = ops::Placeholder(g, "images", DType::kF32, cnn ? Shape({8, 28, 28, 1}) : Shape({8, 784}));
    Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {8});
    Tensor logits = cnn ? examples::FashionCnn(model, images) : examples::FashionMlp(model, images);
    Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
    REQUIRE_THAT(TrainStep(loss, model.parameters(), Optimizer::Sgd()).status(), IsOk());
    auto kernels = Kernels(g, {loss}, /*training=*/true);
    REQUIRE_THAT(kernels.status(), IsOk());
    RequireValidPtx(*kernels, 10);
  }
}

// The host side without a GPU: a graph's generated host function, run by MLIR's JIT on a context of
// the fake driver (runtime/testdata/: it loads and counts kernels but cannot run PTX), on buffers
// that context allocated. `inputs` are the placeholders' bytes, in order; the arena starts zeroed.
struct HostRun {
  size_t kernels = 0;
  int launches = 0, modules = 0;  // what the fake driver saw
  kiln::rt::Status status;
};

HostRun RunHostOnFakeDriver(const Graph& g, const std::vector<Tensor>& outputs,
                            const std::vector<std::vector<char>>& inputs = {}) {
  HostRun result;
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  RegisterGpuDialects(registry);
  mlir::MLIRContext context(registry);
  LoweredSignature sig;
  auto module = LowerGraph(g, outputs, "kiln_graph_run", context, &sig, false, /*library_calls=*/false, /*gpu=*/true);
  REQUIRE_THAT(module.status(), IsOk());
  auto kernels = CompileTensorsToPtx(**module, GpuOptions{});
  REQUIRE_THAT(kernels.status(), IsOk());
  result.kernels = kernels->size();
  const int64_t arena_bytes = ArenaBytes(**module, "kiln_graph_run");
  REQUIRE_THAT(LowerGpuHostToLlvmDialect(**module), IsOk());

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto engine = mlir::ExecutionEngine::create(**module);
  REQUIRE(static_cast<bool>(engine));
  (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    auto add = [&](const char* name, auto* function) {
      symbols[interner(name)] = {llvm::orc::ExecutorAddr::fromPtr(function), llvm::JITSymbolFlags::Exported};
    };
    add("kiln_rt_cuda_launch", &kiln_rt_cuda_launch);
    add("kiln_rt_cuda_check_index", &kiln_rt_cuda_check_index);
    add("kiln_rt_cuda_check_index_prepare", &kiln_rt_cuda_check_index_prepare);
    return symbols;
  });

  const char* kFake = "runtime/testdata/libfake_cuda.so";
  static void* fake = dlopen(kFake, RTLD_NOW);  // held open: its counters outlive the context
  REQUIRE(fake != nullptr);
  auto counter = [&](const char* name) { return reinterpret_cast<int (*)()>(dlsym(fake, name))(); };
  const int launches = counter("fake_cuda_launches"), modules = counter("fake_cuda_modules_loaded");
  kiln::rt::Context cuda(kiln_cuda_context_create_with_driver(kFake, 0));
  REQUIRE(cuda.TakeStatus().ok());
  // Device buffers for the inputs, variables, outputs and arena, in the function's order.
  std::vector<int64_t> bytes;
  for (int id : sig.placeholders) bytes.push_back(g.node(id).outputs[0].shape.NumElements() * DTypeSize(g.node(id).outputs[0].dtype));
  for (int id : sig.variables) bytes.push_back(g.node(id).outputs[0].shape.NumElements() * DTypeSize(g.node(id).outputs[0].dtype));
  for (const Tensor& t : sig.outputs) bytes.push_back(t.shape().NumElements() * DTypeSize(t.dtype()));
  std::vector<void*> pointers;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const uint64_t device = kiln_cuda_alloc(cuda.get(), std::max<int64_t>(1, bytes[i]));
    if (i < inputs.size()) kiln_cuda_copy_to_device(cuda.get(), device, inputs[i].data(), inputs[i].size());
    pointers.push_back(reinterpret_cast<void*>(device));
  }
  const std::vector<char> zeros(std::max<int64_t>(1, arena_bytes), 0);
  const uint64_t arena_device = kiln_cuda_alloc(cuda.get(), zeros.size());
  kiln_cuda_copy_to_device(cuda.get(), arena_device, zeros.data(), zeros.size());
  void* runtime_context = cuda.get();
  void* arena = reinterpret_cast<void*>(arena_device);
  std::vector<void*> args;
  for (void*& p : pointers) args.push_back(&p);
  args.push_back(&runtime_context);
  args.push_back(&arena);
  REQUIRE(!(*engine)->invokePacked("kiln_graph_run", args));
  kiln_cuda_synchronize(cuda.get());
  result.status = cuda.TakeStatus();
  result.launches = counter("fake_cuda_launches") - launches;
  result.modules = counter("fake_cuda_modules_loaded") - modules;
  for (void* p : pointers) kiln_cuda_free(cuda.get(), reinterpret_cast<uint64_t>(p));
  kiln_cuda_free(cuda.get(), arena_device);
  REQUIRE(cuda.TakeStatus().ok());
  return result;
}

TEST_CASE("Generated host code launches every kernel through the runtime") {
  Graph g;
  layers::Model model(g, 3);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {4, 8});
  Tensor probabilities = ops::Softmax(model.Dense(model.Dense(x, 16, layers::Activation::kRelu), 3));
  const HostRun run = RunHostOnFakeDriver(g, {probabilities});
  REQUIRE(run.status.ok());
  CHECK(run.kernels >= 5);
  CHECK(run.launches == static_cast<int>(run.kernels));
  CHECK(run.modules == static_cast<int>(run.kernels));
}

// A Gather's index check: a kernel finds the first out-of-range position and the runtime reads it
// from device memory. The fake driver runs no kernel, so the position is the zeroed arena's 0: the
// runtime must then read the index at position 0 from the device and report it like the CPU does.
TEST_CASE("Index checks report through the runtime from device memory") {
  Graph g;
  Tensor table = ops::Placeholder(g, "table", DType::kF32, {10, 4});
  Tensor ids = ops::Placeholder(g, "ids", DType::kI32, {3});
  const int line = __LINE__ + 1;
  Tensor rows = ops::Gather(table, ids);
  std::vector<char> table_bytes(10 * 4 * 4, 0), id_bytes(3 * 4);
  const int32_t id_values[] = {17, 1, 2};
  std::memcpy(id_bytes.data(), id_values, sizeof id_values);
  const HostRun run = RunHostOnFakeDriver(g, {rows}, {table_bytes, id_bytes});
  CHECK(run.launches == static_cast<int>(run.kernels));
  REQUIRE(run.status.code() == KILN_OUT_OF_RANGE);
  REQUIRE(run.status.message() == "Gather 'Gather' (gpu_pipeline_test.cc:" + std::to_string(line) +
                                      "): index 17 at flat position 0 is out of range [0, 10)");
}

}  // namespace
}  // namespace kiln
