// The class kilnc generates for the CUDA target (kiln_aot_library with target = "cuda"), without a
// GPU: on the fake driver (device memory is host memory, kernels do not run) and the fake cuBLASLt,
// the class allocates its device arrays, starts its variables at the same initial values as the CPU
// target's class, uploads inputs and changed variables before a run, downloads what a run changed,
// and replays the step from a CUDA graph from its second run on.
#include <cstdlib>
#include <cstring>
#include <memory>

#include "catch2/catch.hpp"
#include "runtime/runtime.h"
#include "runtime/testdata/fake_cuda.h"
#include "test/gpu/mlp_cpu.h"
#include "test/gpu/mlp_cuda.h"

namespace {

using kiln::testing::FakeCudaCounter;
using kiln::testing::FakeGpu;

// The device array at `address` (the fake driver's device memory is host memory).
const float* Device(uint64_t address) { return reinterpret_cast<const float*>(address); }

TEST_CASE("The CUDA class starts its variables where the CPU class does") {
  kiln::rt::Context context = FakeGpu();
  auto gpu = std::make_unique<kiln_generated::MlpCuda>(&context);
  auto cpu = std::make_unique<kiln_generated::MlpCpu>();
  auto gv = gpu->variables();
  auto cv = cpu->variables();
  REQUIRE(gv.size() == cv.size());
  for (size_t i = 0; i < gv.size(); ++i) {
    INFO(gv[i].name);
    REQUIRE(std::strcmp(gv[i].name, cv[i].name) == 0);
    REQUIRE(kiln_tensor_bytes(&gv[i]) == kiln_tensor_bytes(&cv[i]));
    REQUIRE(std::memcmp(gv[i].data, cv[i].data, kiln_tensor_bytes(&gv[i])) == 0);
  }
  REQUIRE(std::strcmp(kiln_generated::MlpCuda::kFingerprint,
                      kiln_generated::MlpCpu::kFingerprint) == 0);
}

TEST_CASE("The CUDA class uploads inputs and variables, and replays its step from a CUDA graph") {
  kiln::rt::Context context = FakeGpu();
  auto model = std::make_unique<kiln_generated::MlpCuda>(&context);
  using M = kiln_generated::MlpCuda;
  for (size_t i = 0; i < M::kXSize; ++i) model->x()[i] = 0.5f * i;
  for (size_t i = 0; i < M::kLabelsSize; ++i) model->labels()[i] = i % 3 == 0;
  *model->lr() = 0.1f;
  model->dense_b()[1] = 7;  // a variable written through its accessor is uploaded
  const int replays = FakeCudaCounter("fake_cuda_graph_launches");
  REQUIRE(model->Run().ok());
  REQUIRE(std::memcmp(Device(model->x_device()), model->x(), sizeof(float) * M::kXSize) == 0);
  REQUIRE(Device(model->dense_b_device())[1] == 7);
  REQUIRE(FakeCudaCounter("fake_cuda_graph_launches") ==
          replays);  // the first run launches directly
  // The fake runs no kernel, so the "updated" variables are what was uploaded; writing the device
  // copy stands in for a step's update, which the next accessor call must download.
  const_cast<float*>(Device(model->dense_w_device()))[0] = 42;
  REQUIRE(model->dense_w()[0] == 42);
  for (int i = 0; i < 3; ++i) REQUIRE(model->Run().ok());
  REQUIRE(model->capture_error().empty());
  REQUIRE(FakeCudaCounter("fake_cuda_graph_launches") ==
          replays + 3);  // captured at run 2, replayed
  REQUIRE(Device(model->dense_w_device())[0] == 42);
}

TEST_CASE("Without a driver the CUDA class reports it at its first run") {
  kiln::rt::Context context(kiln_cuda_context_create_with_driver("libno_such_cuda_driver.so.1", 0));
  auto model = std::make_unique<kiln_generated::MlpCuda>(&context);
  const kiln::rt::Status s = model->Run();
  REQUIRE(s.code() == KILN_UNAVAILABLE);
  REQUIRE(s.message().find("no CUDA driver") == 0);
}

}  // namespace
