// The CUDA kernel pipeline on a machine without a GPU: every kernel of representative graphs (and
// of whole Fashion-MNIST training steps) is generated as PTX and accepted by the toolkit's ptxas
// for sm_90. Running the kernels needs a GPU (test/gpu/, not written yet). Tagged "cuda": test.sh
// runs it only where the CUDA toolkit is installed.
#include "codegen/cuda/gpu_pipeline.h"

#include <cstdlib>
#include <string>

#include "catch2/catch.hpp"
#include "examples/fashion_models.h"
#include "graph/gradient_check.h"
#include "graph/graph.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "graph/types.h"
#include "runtime/cuda.h"
#include "runtime/runtime.h"
#include "runtime/testdata/fake_cuda.h"
#include "testing/gpu_testing.h"
#include "testing/jit_runner.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

using testing::CompileGraphToPtx;
using testing::RequireValidPtx;

TEST_CASE("Elementwise, reductions, softmax and layernorm become valid sm_90 kernels") {
  Graph g;
  // 33 columns: the element count is no multiple of the block size, so the kernels guard it.
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {64, 33});
  Tensor a = ops::Placeholder(g, "a", DType::kF32, {33});
  Tensor gamma = ops::Placeholder(g, "gamma", DType::kF32, {33});
  std::vector<Tensor> outputs = {
      ops::Gelu(x * a + a),    // erf: libdevice
      ops::ReduceSum(x, {1}),  // a serial loop per thread
      ops::ReduceMax(x, {0}),      ops::Softmax(x),        ops::LogSoftmax(x),
      ops::LayerNorm(x, gamma, a), ops::Tanh(ops::Exp(x)),
  };
  auto kernels = CompileGraphToPtx(g, outputs);
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
  std::vector<Tensor> outputs = {ops::MatMul(a, b, false, true),
                                 ops::MaxPool2D(ops::Relu(ops::Conv2D(img, f, same)))};
  auto kernels = CompileGraphToPtx(g, outputs);
  REQUIRE_THAT(kernels.status(), IsOk());
  RequireValidPtx(*kernels, 2);
}

// Integer labels, as the trainer feeds them: range-checked on the device.
TEST_CASE("Whole Fashion-MNIST training steps (SGD) become valid sm_90 kernels") {
  for (bool cnn : {false, true}) {
    INFO((cnn ? "CNN" : "MLP"));
    Graph g;
    layers::Model model(g, 2);
    Tensor images =
        ops::Placeholder(g, "images", DType::kF32, cnn ? Shape({8, 28, 28, 1}) : Shape({8, 784}));
    Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {8});
    Tensor logits = cnn ? examples::FashionCnn(model, images) : examples::FashionMlp(model, images);
    Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
    REQUIRE_THAT(TrainStep(loss, model.parameters(), Optimizer::Sgd()).status(), IsOk());
    auto kernels = CompileGraphToPtx(g, {loss}, /*training=*/true);
    REQUIRE_THAT(kernels.status(), IsOk());
    RequireValidPtx(*kernels, 10);
  }
}

// The host side without a GPU: GpuJitGraph (the generated host code in MLIR's JIT) on a context of
// the fake driver (runtime/testdata/: it loads and counts kernels but cannot run PTX) and the fake
// cuBLASLt (which computes on the host).
using testing::FakeCounter;
using testing::FakeCudaCounter;
using testing::kFakeCublasLt;
using testing::kFakeCudaDriver;

TEST_CASE("Generated host code launches every kernel and cuBLASLt call through the runtime") {
  setenv("KILN_CUBLASLT", kFakeCublasLt, 1);
  const int heuristics = FakeCounter(kFakeCublasLt, "fake_cublaslt_heuristics");
  Graph g;
  layers::Model model(g, 3);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {4, 8});
  Tensor probabilities =
      ops::Softmax(model.Dense(model.Dense(x, 16, layers::Activation::kRelu), 3));
  kiln::rt::Context cuda(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  auto jit = GpuJitGraph::Compile(g, {probabilities}, cuda.get());
  REQUIRE_THAT(jit.status(), IsOk());
  // Both Dense layers' matmul, bias (and ReLU) are one cuBLASLt call each, planned at compile time.
  CHECK(FakeCounter(kFakeCublasLt, "fake_cublaslt_heuristics") - heuristics == 2);
  const int launches = FakeCudaCounter("fake_cuda_launches"),
            modules = FakeCudaCounter("fake_cuda_modules_loaded");
  const int matmuls = FakeCounter(kFakeCublasLt, "fake_cublaslt_matmuls");
  std::mt19937_64 rng(5);
  for (int run = 0; run < 2; ++run) {
    auto results = (*jit)->Run({{"x", RandomLiteral(DType::kF32, {4, 8}, rng)}});
    REQUIRE_THAT(results.status(), IsOk());
    REQUIRE(results->size() == 1);
    REQUIRE((*results)[0].shape == Shape({4, 3}));
  }
  const int kernels = static_cast<int>((*jit)->num_kernels());
  CHECK(kernels >= 3);  // the softmax's
  CHECK(FakeCounter(kFakeCublasLt, "fake_cublaslt_matmuls") - matmuls == 4);
  CHECK(FakeCounter(kFakeCublasLt, "fake_cublaslt_heuristics") - heuristics == 2);
  CHECK(FakeCudaCounter("fake_cuda_launches") - launches ==
        2 * kernels);  // every kernel, every run
  CHECK(FakeCudaCounter("fake_cuda_modules_loaded") - modules == kernels);  // loaded once
  CHECK(FakeCudaCounter("fake_cuda_last_image_elf") == 1);  // compiled by ptxas: a cubin, not PTX
}

TEST_CASE("A CNN training step's convolutions and matmuls call cuDNN and cuBLASLt, planned once") {
  setenv("KILN_CUBLASLT", kFakeCublasLt, 1);
  setenv("KILN_CUDNN", testing::kFakeCudnn, 1);
  Graph g;
  layers::Model model(g, 2);
  Tensor images = ops::Placeholder(g, "images", DType::kF32, {2, 28, 28, 1});
  Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {2});
  Tensor loss = losses::SoftmaxCrossEntropy(examples::FashionCnn(model, images), labels);
  REQUIRE_THAT(TrainStep(loss, model.parameters(), Optimizer::Sgd()).status(), IsOk());
  const int plans = FakeCounter(testing::kFakeCudnn, "fake_cudnn_heuristics");
  const int matmul_plans = FakeCounter(kFakeCublasLt, "fake_cublaslt_heuristics");
  kiln::rt::Context cuda(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  auto jit = GpuJitGraph::Compile(g, {loss}, cuda.get(), /*apply_updates=*/true);
  REQUIRE_THAT(jit.status(), IsOk());
  // Two convolutions forward and their filter gradients, and the second's input gradient (the
  // images need none): 5 cuDNN plans. Two Dense layers forward (bias epilogues), and for each its
  // weight gradient and its input gradient (the first's flows back to the convolutions): 6
  // cuBLASLt plans.
  CHECK(FakeCounter(testing::kFakeCudnn, "fake_cudnn_heuristics") - plans == 5);
  CHECK(FakeCounter(kFakeCublasLt, "fake_cublaslt_heuristics") - matmul_plans == 6);
  const int convolutions = FakeCounter(testing::kFakeCudnn, "fake_cudnn_convolutions");
  Literal label_values(DType::kI32, Shape({2}));
  label_values.values = {3, 7};
  for (int step = 0; step < 2; ++step) {
    auto results = (*jit)->Run({{"images", Literal(DType::kF32, Shape({2, 28, 28, 1}))},
                                {"labels", label_values},
                                {"learning_rate", Literal::Scalar(DType::kF32, 0.1)}});
    // The fake runs no kernel: the index check reads the zeroed arena's finding, position 0.
    REQUIRE((results.ok() || results.status().code() == absl::StatusCode::kOutOfRange));
  }
  CHECK(FakeCounter(testing::kFakeCudnn, "fake_cudnn_convolutions") - convolutions == 10);
  CHECK(FakeCounter(testing::kFakeCudnn, "fake_cudnn_heuristics") - plans ==
        5);  // none made at run time
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
  kiln::rt::Context cuda(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  auto jit = GpuJitGraph::Compile(g, {rows}, cuda.get());
  REQUIRE_THAT(jit.status(), IsOk());
  Literal id_values(DType::kI32, Shape({3}));
  id_values.values = {17, 1, 2};
  auto results = (*jit)->Run({{"table", Literal(DType::kF32, Shape({10, 4}))}, {"ids", id_values}});
  REQUIRE_THAT(results.status(),
               StatusIs(absl::StatusCode::kOutOfRange,
                        "Gather 'Gather' (gpu_pipeline_test.cc:" + std::to_string(line) +
                            "): index 17 at flat position 0 is out of range [0, 10)"));
}

}  // namespace
}  // namespace kiln
