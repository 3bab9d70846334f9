// The values of generated inputs of GPU cases (testing/jit_runner.h, GpuCase::generated_feeds),
// shared by the writer (here) and test/gpu/gpu_case_runner.cc (on the GPU machine).
#ifndef KILN_TESTING_GPU_CASE_VALUE_H_
#define KILN_TESTING_GPU_CASE_VALUE_H_

#include <cstdint>

namespace kiln {

// Element i of generated input number `input`: uniform in [-2, 2), exact in f32 and computed with
// integers only, so that both sides agree bit for bit.
inline float GpuCaseValue(int input, int64_t i) {
  uint64_t z =
      (static_cast<uint64_t>(input) << 40) + static_cast<uint64_t>(i) + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;  // splitmix64's finalizer
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return static_cast<float>(z >> 40) * (4.0f / 16777216.0f) - 2.0f;
}

// Of a recorded result with `count` elements, every GpuCaseStride-th is stored and compared: every
// one up to 65536, fewer beyond (the device tool carries at most 64 MiB).
inline int64_t GpuCaseStride(int64_t count, int64_t sample_stride) {
  const int64_t needed = (count + 65535) / 65536;
  return needed > sample_stride ? needed : sample_stride;
}

}  // namespace kiln

#endif  // KILN_TESTING_GPU_CASE_VALUE_H_
