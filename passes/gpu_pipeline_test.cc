// The CUDA kernel pipeline on a machine without a GPU: every kernel of representative graphs (and of
// whole Fashion-MNIST training steps) is generated as PTX and accepted by the toolkit's ptxas for
// sm_90. Running the kernels needs a GPU (test/gpu/, not written yet). Tagged "cuda": test.sh runs it
// only where the CUDA toolkit is installed.
#include "passes/gpu_pipeline.h"

#include <cstdlib>
#include <string>

#include "catch2/catch.hpp"
#include "examples/fashion_models.h"
#include "graph/graph.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "passes/graph_lowering.h"
#include "test/status_matchers.h"
#include "test/temp_files.h"

namespace kiln {
namespace {

// Compiles `outputs` (and with `training`, the graph's updates) to PTX kernels.
absl::StatusOr<std::vector<GpuKernel>> Kernels(const Graph& g, const std::vector<Tensor>& outputs,
                                               bool training = false) {
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  RegisterGpuDialects(registry);
  mlir::MLIRContext context(registry);
  auto module = LowerGraph(g, outputs, "kiln_graph_run", context, nullptr, training, /*library_calls=*/false);
  if (!module.ok()) return module.status();
  return CompileTensorsToPtx(**module, GpuOptions{});
}

// Every kernel passes ptxas for sm_90, has an entry point, and calls nothing outside itself
// (libdevice's erf, exp, ... were linked in).
void RequireValidPtx(const std::vector<GpuKernel>& kernels, size_t at_least) {
  REQUIRE(kernels.size() >= at_least);
  for (const GpuKernel& k : kernels) {
    INFO(k.name << ":\n" << k.ptx);
    CHECK(k.ptx.find(".target sm_90") != std::string::npos);
    CHECK(k.ptx.find(".entry") != std::string::npos);
    CHECK(k.ptx.find(".extern .func") == std::string::npos);
    const std::string path = testing::TempPath(k.name + ".ptx");
    testing::WriteFile(path, k.ptx);
    const std::string command = GpuOptions{}.toolkit + "/bin/ptxas -arch=sm_90 " + path + " -o /dev/null";
    REQUIRE(std::system(command.c_str()) == 0);
  }
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

}  // namespace
}  // namespace kiln
