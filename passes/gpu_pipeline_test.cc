// The CUDA kernel pipeline on a machine without a GPU: every kernel of representative graphs (and of
// whole Fashion-MNIST training steps) is generated as PTX and accepted by the toolkit's ptxas for
// sm_90. Running the kernels needs a GPU (test/gpu/, not written yet). Tagged "cuda": test.sh runs it
// only where the CUDA toolkit is installed.
#include "passes/gpu_pipeline.h"

#include <dlfcn.h>

#include <cstdlib>
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

// One-hot labels: integer labels are range-checked at run time, which calls the runtime (no device
// form yet; the next test).
TEST_CASE("Whole Fashion-MNIST training steps (SGD) become valid sm_90 kernels") {
  for (bool cnn : {false, true}) {
    INFO((cnn ? "CNN" : "MLP"));
    Graph g;
    layers::Model model(g, 2);
    Tensor images = ops::Placeholder(g, "images", DType::kF32, cnn ? Shape({8, 28, 28, 1}) : Shape({8, 784}));
    Tensor labels = ops::Placeholder(g, "labels", DType::kF32, {8, 10});
    Tensor logits = cnn ? examples::FashionCnn(model, images) : examples::FashionMlp(model, images);
    Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
    REQUIRE_THAT(TrainStep(loss, model.parameters(), Optimizer::Sgd()).status(), IsOk());
    auto kernels = Kernels(g, {loss}, /*training=*/true);
    REQUIRE_THAT(kernels.status(), IsOk());
    RequireValidPtx(*kernels, 10);
  }
}

TEST_CASE("What has no kernel yet is named with its op and place") {
  Graph g;
  Tensor table = ops::Placeholder(g, "table", DType::kF32, {10, 4});
  Tensor ids = ops::Placeholder(g, "ids", DType::kI32, {3});
  Tensor rows = ops::Gather(table, ids);  // a run-time index check calls the runtime
  auto kernels = Kernels(g, {rows});
  REQUIRE_THAT(kernels.status(), StatusIs(absl::StatusCode::kUnimplemented, "would run on the host"));
}

// The host side without a GPU: the generated host function, run by MLIR's JIT on a context of the
// fake driver (runtime/testdata/), loads and launches each kernel once, in order, on buffers the
// context allocated, and reports no error. (The fake cannot run PTX: results need a GPU.)
TEST_CASE("Generated host code launches every kernel through the runtime") {
  Graph g;
  layers::Model model(g, 3);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {4, 8});
  Tensor probabilities = ops::Softmax(model.Dense(model.Dense(x, 16, layers::Activation::kRelu), 3));
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  RegisterGpuDialects(registry);
  mlir::MLIRContext context(registry);
  LoweredSignature sig;
  auto module = LowerGraph(g, {probabilities}, "kiln_graph_run", context, &sig, false, /*library_calls=*/false);
  REQUIRE_THAT(module.status(), IsOk());
  auto kernels = CompileTensorsToPtx(**module, GpuOptions{});
  REQUIRE_THAT(kernels.status(), IsOk());
  const int64_t arena_bytes = ArenaBytes(**module, "kiln_graph_run");
  REQUIRE_THAT(LowerGpuHostToLlvmDialect(**module), IsOk());

  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  auto engine = mlir::ExecutionEngine::create(**module);
  REQUIRE(static_cast<bool>(engine));
  (*engine)->registerSymbols([](llvm::orc::MangleAndInterner interner) {
    llvm::orc::SymbolMap symbols;
    symbols[interner("kiln_rt_cuda_launch")] = {llvm::orc::ExecutorAddr::fromPtr(&kiln_rt_cuda_launch),
                                                llvm::JITSymbolFlags::Exported};
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
  for (int id : sig.placeholders) bytes.push_back(g.node(id).outputs[0].shape.NumElements() * 4);
  for (int id : sig.variables) bytes.push_back(g.node(id).outputs[0].shape.NumElements() * 4);
  for (const Tensor& t : sig.outputs) bytes.push_back(t.shape().NumElements() * 4);
  std::vector<void*> pointers;
  for (int64_t b : bytes) pointers.push_back(reinterpret_cast<void*>(kiln_cuda_alloc(cuda.get(), b)));
  void* runtime_context = cuda.get();
  void* arena = reinterpret_cast<void*>(kiln_cuda_alloc(cuda.get(), std::max<int64_t>(1, arena_bytes)));
  std::vector<void*> args;
  for (void*& p : pointers) args.push_back(&p);
  args.push_back(&runtime_context);
  args.push_back(&arena);
  REQUIRE(!(*engine)->invokePacked("kiln_graph_run", args));
  kiln_cuda_synchronize(cuda.get());
  REQUIRE(cuda.TakeStatus().ok());
  CHECK(counter("fake_cuda_launches") - launches == static_cast<int>(kernels->size()));
  CHECK(counter("fake_cuda_modules_loaded") - modules == static_cast<int>(kernels->size()));
  for (void* p : pointers) kiln_cuda_free(cuda.get(), reinterpret_cast<uint64_t>(p));
  kiln_cuda_free(cuda.get(), reinterpret_cast<uint64_t>(arena));
}

}  // namespace
}  // namespace kiln
