// Tests' view of the fake CUDA driver (fake_cuda_driver.cc): its path, relative to a test's runfiles
// root, and its counters. The library is held open, so that its counters live across the contexts
// that open and close it.
#ifndef KILN_RUNTIME_TESTDATA_FAKE_CUDA_H_
#define KILN_RUNTIME_TESTDATA_FAKE_CUDA_H_

#include <dlfcn.h>

#include "catch2/catch.hpp"

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

// fake_cuda_modules_loaded, fake_cuda_launches, fake_cuda_contexts_retained, fake_cuda_last_grid, ...
inline int FakeCudaCounter(const char* name) { return FakeCounter(kFakeCudaDriver, name); }

}  // namespace testing
}  // namespace kiln

#endif  // KILN_RUNTIME_TESTDATA_FAKE_CUDA_H_
