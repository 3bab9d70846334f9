// Tests' view of the fake CUDA driver (fake_cuda_driver.cc): its path, relative to a test's
// runfiles root, and its counters. The library is held open, so that its counters live across the
// contexts that open and close it.
#ifndef KILN_RUNTIME_TESTDATA_FAKE_CUDA_H_
#define KILN_RUNTIME_TESTDATA_FAKE_CUDA_H_

#include <dlfcn.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/cuda.h"
#include "runtime/runtime.h"

namespace kiln {
namespace testing {

inline constexpr char kFakeCudaDriver[] = "runtime/testdata/libfake_cuda.so";
inline constexpr char kFakeCublasLt[] = "runtime/testdata/libfake_cublaslt.so";
inline constexpr char kFakeCudnn[] = "runtime/testdata/libfake_cudnn.so";

// Counter `name` of the fake library at `path`.
inline int FakeCounter(const char* path, const char* name) {
  void* library = dlopen(path, RTLD_NOW);  // held open: counted, so once per library
  REQUIRE(library != nullptr);
  auto counter = reinterpret_cast<int (*)()>(dlsym(library, name));
  REQUIRE(counter != nullptr);
  return counter();
}

// fake_cuda_modules_loaded, fake_cuda_launches, fake_cuda_contexts_retained, fake_cuda_last_grid,
// ...
inline int FakeCudaCounter(const char* name) { return FakeCounter(kFakeCudaDriver, name); }

// A CUDA context on the fake driver, whose cuBLASLt and cuDNN are the fakes (they compute on the
// host, where the fake driver's device memory is).
inline rt::Context FakeGpu() {
  setenv("KILN_CUBLASLT", kFakeCublasLt, 1);
  setenv("KILN_CUDNN", kFakeCudnn, 1);
  rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  REQUIRE(context.TakeStatus().ok());
  return context;
}

// n floats uniform in [-1, 1).
inline std::vector<float> RandomFloats(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace testing
}  // namespace kiln

#endif  // KILN_RUNTIME_TESTDATA_FAKE_CUDA_H_
