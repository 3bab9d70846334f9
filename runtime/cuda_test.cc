// runtime/cuda.h without a GPU: the missing driver is a clear UNAVAILABLE status, and through a
// fake driver (runtime/testdata/fake_cuda_driver.cc) the launch path loads each module once, passes
// grid, block and arguments through, and turns driver errors into statuses naming the kernel.
#include "runtime/cuda.h"

#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/runtime.h"
#include "runtime/testdata/fake_cuda.h"

namespace {

using kiln::testing::FakeCudaCounter;
using kiln::testing::kFakeCudaDriver;

TEST_CASE("Without a CUDA driver a CUDA context is UNAVAILABLE, saying why") {
  kiln::rt::Context context(kiln_cuda_context_create_with_driver("libno_such_cuda_driver.so.1", 0));
  const kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_UNAVAILABLE);
  REQUIRE(s.message().find("no CUDA driver: libno_such_cuda_driver.so.1") != std::string::npos);
  // Every later call is refused rather than crashing.
  REQUIRE(kiln_cuda_alloc(context.get(), 16) == 0);
  REQUIRE(context.TakeStatus().code() == KILN_FAILED_PRECONDITION);
}

TEST_CASE("A device the driver does not have is UNAVAILABLE") {
  kiln::rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 3));
  const kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_UNAVAILABLE);
  REQUIRE(s.message() == "cuDeviceGet(3): CUDA_ERROR_INVALID_DEVICE (fake driver error)");
}

TEST_CASE(
    "Kernels launch through the driver: one module load per image, arguments passed through") {
  const int modules_before = FakeCudaCounter("fake_cuda_modules_loaded");
  {
    kiln::rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
    REQUIRE(context.TakeStatus().ok());
    REQUIRE(FakeCudaCounter("fake_cuda_contexts_retained") == 1);
    std::vector<float> host = {1, 2, 3, 4, 5};
    uint64_t device = kiln_cuda_alloc(context.get(), host.size() * sizeof(float));
    REQUIRE(device != 0);
    kiln_cuda_copy_to_device(context.get(), device, host.data(), host.size() * sizeof(float));
    static const char kImage[] = "// PTX of a module with add_one";
    int64_t n = 4;  // the last element stays
    void* args[] = {&device, &n};
    const int64_t params[] = {3, 1, 1, 256, 1, 1, 0};
    for (int i = 0; i < 2; ++i) kiln_rt_cuda_launch(context.get(), kImage, "add_one", params, args);
    kiln_cuda_copy_to_host(context.get(), host.data(), device, host.size() * sizeof(float));
    kiln_cuda_synchronize(context.get());
    kiln_cuda_free(context.get(), device);
    REQUIRE(context.TakeStatus().ok());
    REQUIRE(host == std::vector<float>{3, 4, 5, 6, 5});
    REQUIRE(FakeCudaCounter("fake_cuda_modules_loaded") == modules_before + 1);
    REQUIRE(FakeCudaCounter("fake_cuda_last_grid") == 3);
    REQUIRE(FakeCudaCounter("fake_cuda_last_block") == 256);
  }
  REQUIRE(FakeCudaCounter("fake_cuda_contexts_retained") == 0);  // released with the context
}

TEST_CASE("Driver errors become the context's status, naming the kernel") {
  kiln::rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  REQUIRE(context.TakeStatus().ok());
  const int64_t params[] = {1, 1, 1, 32, 1, 1, 0};
  static const char kImage[] = "// a module";
  static const char kCorrupt[] = "corrupt PTX";

  kiln_rt_cuda_launch(context.get(), kCorrupt, "add_one", params, nullptr);
  kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_INTERNAL);
  REQUIRE(s.message() ==
          "cuModuleLoadData for kernel 'add_one': CUDA_ERROR_INVALID_PTX (fake driver error)");

  kiln_rt_cuda_launch(context.get(), kImage, "no_such_kernel", params, nullptr);
  s = context.TakeStatus();
  REQUIRE(
      s.message() ==
      "cuModuleGetFunction for kernel 'no_such_kernel': CUDA_ERROR_NOT_FOUND (fake driver error)");

  kiln_rt_cuda_launch(context.get(), kImage, "fail_launch", params, nullptr);
  s = context.TakeStatus();
  REQUIRE(s.message() ==
          "cuLaunchKernel for kernel 'fail_launch': CUDA_ERROR_LAUNCH_FAILED (unspecified launch "
          "failure)");

  REQUIRE(kiln_cuda_alloc(context.get(), size_t{1} << 40) == 0);
  s = context.TakeStatus();
  REQUIRE(s.message() == "cuMemAlloc(1099511627776): CUDA_ERROR_OUT_OF_MEMORY (fake driver error)");

  // After an error, calls do nothing until the status is taken.
  const int launches = FakeCudaCounter("fake_cuda_launches");
  kiln_rt_cuda_launch(context.get(), kImage, "fail_launch", params, nullptr);
  kiln_rt_cuda_launch(context.get(), kImage, "fail_launch", params, nullptr);
  REQUIRE(FakeCudaCounter("fake_cuda_launches") == launches + 1);
  REQUIRE(context.TakeStatus().code() == KILN_INTERNAL);
}

TEST_CASE("kiln_rt_cuda_check_index reads the position and the index from device memory") {
  kiln::rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  REQUIRE(context.TakeStatus().ok());
  const int64_t none = 3, second = 1;
  const int32_t ids32[] = {1, 12, 2};
  const int64_t ids64[] = {1, -5, 2};
  uint64_t position = kiln_cuda_alloc(context.get(), 8),
           indices = kiln_cuda_alloc(context.get(), sizeof ids64);
  auto device = [](uint64_t p) { return reinterpret_cast<const void*>(p); };
  // No index out of range: the position is n.
  kiln_cuda_copy_to_device(context.get(), position, &none, 8);
  const int64_t params32[] = {3, 10, 4}, params64[] = {3, 10, 8};
  kiln_rt_cuda_check_index(context.get(), params32, "Gather 'g' (m.cc:1)", "index",
                           device(position), device(indices));
  REQUIRE(context.TakeStatus().ok());
  // 32-bit and 64-bit indices, reported like kiln_rt_index_error.
  kiln_cuda_copy_to_device(context.get(), position, &second, 8);
  kiln_cuda_copy_to_device(context.get(), indices, ids32, sizeof ids32);
  kiln_rt_cuda_check_index(context.get(), params32, "Gather 'g' (m.cc:1)", "index",
                           device(position), device(indices));
  kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_OUT_OF_RANGE);
  REQUIRE(s.message() ==
          "Gather 'g' (m.cc:1): index 12 at flat position 1 is out of range [0, 10)");
  kiln_cuda_copy_to_device(context.get(), indices, ids64, sizeof ids64);
  kiln_rt_cuda_check_index(context.get(), params64, "Gather 'g' (m.cc:1)", "label",
                           device(position), device(indices));
  s = context.TakeStatus();
  REQUIRE(s.message() ==
          "Gather 'g' (m.cc:1): label -5 at flat position 1 is out of range [0, 10)");
  kiln_cuda_free(context.get(), position);
  kiln_cuda_free(context.get(), indices);
  REQUIRE(context.TakeStatus().ok());
}

TEST_CASE("A captured step replays as a CUDA graph: its launches and copies, once per replay") {
  kiln::rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  REQUIRE(context.TakeStatus().ok());
  std::vector<float> host = {0, 10, 20};
  uint64_t device = kiln_cuda_alloc(context.get(), sizeof(float) * 3);
  kiln_cuda_copy_to_device(context.get(), device, host.data(), sizeof(float) * 3);
  static const char kImage[] = "// add_one";
  int64_t n = 2;
  void* args[] = {&device, &n};
  const int64_t params[] = {1, 1, 1, 32, 1, 1, 0};
  kiln_rt_cuda_launch(context.get(), kImage, "add_one", params,
                      args);  // loads the module, uncaptured
  const int launches = FakeCudaCounter("fake_cuda_launches");
  kiln_cuda_capture_begin(context.get());
  kiln_rt_cuda_launch(context.get(), kImage, "add_one", params, args);
  kiln_rt_cuda_launch(context.get(), kImage, "add_one", params, args);
  kiln_cuda_graph* graph = kiln_cuda_capture_end(context.get());
  REQUIRE(context.TakeStatus().ok());
  REQUIRE(graph != nullptr);
  REQUIRE(FakeCudaCounter("fake_cuda_launches") == launches);  // recorded, not run
  const int replays = FakeCudaCounter("fake_cuda_graph_launches");
  for (int i = 0; i < 3; ++i) kiln_cuda_graph_launch(context.get(), graph);
  kiln_cuda_copy_to_host(context.get(), host.data(), device, sizeof(float) * 3);
  kiln_cuda_synchronize(context.get());
  REQUIRE(context.TakeStatus().ok());
  REQUIRE(FakeCudaCounter("fake_cuda_graph_launches") == replays + 3);
  REQUIRE(FakeCudaCounter("fake_cuda_launches") == launches + 6);
  REQUIRE(host == std::vector<float>{7, 17, 20});  // 1 uncaptured + 3 replays x 2
  kiln_cuda_graph_destroy(context.get(), graph);
  kiln_cuda_free(context.get(), device);
  REQUIRE(context.TakeStatus().ok());
}

TEST_CASE("Index checks inside a captured step report at the synchronize after a bad replay") {
  kiln::rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  REQUIRE(context.TakeStatus().ok());
  const int64_t none = 3, second = 1;
  const int32_t ids[] = {1, 12, 2};
  uint64_t position = kiln_cuda_alloc(context.get(), 8),
           indices = kiln_cuda_alloc(context.get(), sizeof ids);
  kiln_cuda_copy_to_device(context.get(), indices, ids, sizeof ids);
  kiln_cuda_copy_to_device(context.get(), position, &none, 8);
  const int64_t params[] = {3, 10, 4};
  auto device = [](uint64_t p) { return reinterpret_cast<const void*>(p); };
  kiln_cuda_capture_begin(context.get());
  kiln_rt_cuda_check_index(context.get(), params, "Gather 'g' (m.cc:1)", "index", device(position),
                           device(indices));
  kiln_cuda_graph* graph = kiln_cuda_capture_end(context.get());
  REQUIRE(context.TakeStatus().ok());  // no waiting inside the capture
  kiln_cuda_graph_launch(context.get(), graph);
  kiln_cuda_synchronize(context.get());
  REQUIRE(context.TakeStatus().ok());  // every index in range
  kiln_cuda_copy_to_device(context.get(), position, &second,
                           8);  // as the check's kernel would find
  kiln_cuda_graph_launch(context.get(), graph);
  kiln_cuda_synchronize(context.get());
  const kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_OUT_OF_RANGE);
  REQUIRE(s.message() ==
          "Gather 'g' (m.cc:1): index 12 at flat position 1 is out of range [0, 10)");
  kiln_cuda_synchronize(context.get());  // reported once
  REQUIRE(context.TakeStatus().ok());
  kiln_cuda_graph_destroy(context.get(), graph);
  kiln_cuda_free(context.get(), position);
  kiln_cuda_free(context.get(), indices);
  REQUIRE(context.TakeStatus().ok());
}

TEST_CASE("Capture misuse is a clear status") {
  kiln::rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  REQUIRE(context.TakeStatus().ok());
  REQUIRE(kiln_cuda_capture_end(context.get()) == nullptr);
  REQUIRE(context.TakeStatus().message() == "kiln_cuda_capture_end: no capture under way");
  kiln_cuda_capture_begin(context.get());
  kiln_cuda_capture_begin(context.get());
  REQUIRE(context.TakeStatus().message() == "kiln_cuda_capture_begin: a capture is under way");
  // Waiting inside a capture fails (the driver says so), and the capture still ends.
  kiln_cuda_synchronize(context.get());
  REQUIRE(context.TakeStatus().message() ==
          "cuStreamSynchronize: CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED (fake driver error)");
  kiln_cuda_graph_destroy(context.get(), kiln_cuda_capture_end(context.get()));
  kiln_cuda_graph_launch(context.get(), nullptr);
  REQUIRE(context.TakeStatus().message() == "kiln_cuda_graph_launch: no graph");
}

TEST_CASE("A CUDA context holds another library's state beside its own") {
  kiln::rt::Context gpu = kiln::testing::FakeGpu();
  static const char key = 0;
  static int other;
  void* state = kiln_context_library_state(
      gpu.get(), &key, [] { return static_cast<void*>(&other); }, [](void*) {});
  REQUIRE(state == &other);
  // The CUDA path keeps working beside it, and the other library gets its own state back.
  const uint64_t buffer = kiln_cuda_alloc(gpu.get(), 16);
  REQUIRE(buffer != 0);
  kiln_cuda_free(gpu.get(), buffer);
  kiln_cuda_synchronize(gpu.get());
  REQUIRE(gpu.TakeStatus().ok());
  REQUIRE(kiln_context_library_state(
              gpu.get(), &key, [] { return static_cast<void*>(nullptr); }, [](void*) {}) == &other);
}

TEST_CASE("A CPU context is not a CUDA context") {
  kiln::rt::Context context;
  kiln_cuda_synchronize(context.get());
  REQUIRE(context.TakeStatus().code() == KILN_FAILED_PRECONDITION);
}

}  // namespace
