// The CUDA target's matmul hooks (runtime/cuda_blas.cc) without a GPU: on the fake driver, with a
// fake cuBLASLt that computes what cuBLASLt documents on the host (runtime/testdata/), the operand
// swap and layouts give row-major products for every transpose, bias, ReLU and batch; plans are
// made once per call site at prepare; precision picks the compute type; errors name the product.
#include <cstdlib>
#include <random>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/cuda.h"
#include "runtime/runtime.h"
#include "runtime/testdata/fake_cuda.h"

namespace {

using kiln::testing::FakeCounter;
using kiln::testing::FakeGpu;
using kiln::testing::kFakeCublasLt;
using kiln::testing::kFakeCudaDriver;
using kiln::testing::RandomFloats;

int BlasCounter(const char* name) { return FakeCounter(kFakeCublasLt, name); }

// Row-major c[m,n] = op(a)·op(b) (+ bias per column, ReLU), in double.
std::vector<float> Reference(const std::vector<float>& a, const std::vector<float>& b, int64_t m,
                             int64_t n, int64_t k, bool ta, bool tb, const float* bias = nullptr,
                             bool relu = false) {
  std::vector<float> c(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += double(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      if (bias != nullptr) s += bias[j];
      c[i * n + j] = static_cast<float>(relu && s < 0 ? 0 : s);
    }
  }
  return c;
}

void RequireClose(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(got[i] == Approx(want[i]).margin(1e-5));
  }
}

TEST_CASE("cuBLASLt matmuls are row-major products for every transpose") {
  kiln::rt::Context context = FakeGpu();
  std::mt19937 rng(1);
  const int64_t m = 3, n = 5, k = 4;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      INFO("transpose_a " << ta << ", transpose_b " << tb);
      const std::vector<float> a = RandomFloats(m * k, rng), b = RandomFloats(k * n, rng);
      std::vector<float> c(m * n, 99);
      const int64_t params[] = {m, n, k, ta, tb, 0};
      kiln_rt_cuda_matmul_prepare(context.get(), params);
      kiln_rt_cuda_matmul(context.get(), params, a.data(), b.data(),
                          c.data());  // host memory is device memory
      REQUIRE(context.TakeStatus().ok());
      RequireClose(c, Reference(a, b, m, n, k, ta, tb));
    }
  }
  REQUIRE(BlasCounter("fake_cublaslt_last_compute") == 68);  // CUBLAS_COMPUTE_32F: exact f32
}

TEST_CASE("cuBLASLt bias and ReLU epilogues add a bias per column") {
  kiln::rt::Context context = FakeGpu();
  std::mt19937 rng(2);
  const int64_t m = 4, n = 6, k = 5;
  for (int relu = 0; relu < 2; ++relu) {
    for (int tb = 0; tb < 2; ++tb) {
      const std::vector<float> a = RandomFloats(m * k, rng), b = RandomFloats(k * n, rng),
                               bias = RandomFloats(n, rng);
      std::vector<float> c(m * n);
      const int64_t params[] = {m, n, k, 0, tb, relu, 0};
      kiln_rt_cuda_matmul_bias(context.get(), params, a.data(), b.data(), bias.data(), c.data());
      REQUIRE(context.TakeStatus().ok());
      RequireClose(c, Reference(a, b, m, n, k, false, tb, bias.data(), relu));
    }
  }
}

TEST_CASE("cuBLASLt batch matmuls multiply each pair of the batch") {
  kiln::rt::Context context = FakeGpu();
  std::mt19937 rng(3);
  const int64_t batch = 3, m = 2, n = 3, k = 4;
  for (int ta = 0; ta < 2; ++ta) {
    const std::vector<float> a = RandomFloats(batch * m * k, rng),
                             b = RandomFloats(batch * k * n, rng);
    std::vector<float> c(batch * m * n);
    const int64_t params[] = {batch, m, n, k, ta, 1, 0};
    kiln_rt_cuda_batch_matmul(context.get(), params, a.data(), b.data(), c.data());
    REQUIRE(context.TakeStatus().ok());
    for (int64_t i = 0; i < batch; ++i) {
      const std::vector<float> ai(a.begin() + i * m * k, a.begin() + (i + 1) * m * k);
      const std::vector<float> bi(b.begin() + i * k * n, b.begin() + (i + 1) * k * n);
      const std::vector<float> ci(c.begin() + i * m * n, c.begin() + (i + 1) * m * n);
      RequireClose(ci, Reference(ai, bi, m, n, k, ta, true));
    }
  }
}

TEST_CASE("cuBLASLt plans are made once per call site, at prepare, with one handle per context") {
  const int handles = BlasCounter("fake_cublaslt_handles");
  {
    kiln::rt::Context context = FakeGpu();
    std::vector<float> a(8 * 8, 1), b(8 * 8, 1), c(8 * 8);
    const int64_t first[] = {8, 8, 8, 0, 0, 0}, second[] = {8, 8, 8, 1, 0, 0};
    const int heuristics = BlasCounter("fake_cublaslt_heuristics");
    kiln_rt_cuda_matmul_prepare(context.get(), first);
    kiln_rt_cuda_matmul_prepare(context.get(), second);
    REQUIRE(BlasCounter("fake_cublaslt_heuristics") == heuristics + 2);
    REQUIRE(BlasCounter("fake_cublaslt_handles") == handles + 1);
    const int matmuls = BlasCounter("fake_cublaslt_matmuls");
    for (int i = 0; i < 3; ++i) {
      kiln_rt_cuda_matmul(context.get(), first, a.data(), b.data(), c.data());
      kiln_rt_cuda_matmul(context.get(), second, a.data(), b.data(), c.data());
    }
    REQUIRE(context.TakeStatus().ok());
    REQUIRE(BlasCounter("fake_cublaslt_heuristics") == heuristics + 2);
    REQUIRE(BlasCounter("fake_cublaslt_matmuls") == matmuls + 6);
  }
  REQUIRE(BlasCounter("fake_cublaslt_handles") == handles);  // released with the context
}

TEST_CASE("cuBLASLt precision options pick TF32 or bf16 compute types") {
  kiln::rt::Context context = FakeGpu();
  std::vector<float> a(4, 1), b(4, 1), c(4);
  for (auto [precision, compute] : {std::pair<int64_t, int>{1, 77}, {2, 75}, {0, 68}}) {
    const int64_t params[] = {2, 2, 2, 0, 0, precision};
    kiln_rt_cuda_matmul(context.get(), params, a.data(), b.data(), c.data());
    REQUIRE(context.TakeStatus().ok());
    REQUIRE(BlasCounter("fake_cublaslt_last_compute") == compute);
  }
}

TEST_CASE("cuBLASLt errors name the call and the product") {
  kiln::rt::Context context = FakeGpu();
  const int64_t params[] = {2, 2, 3333, 0, 0, 0};  // the fake finds no algorithm for k = 3333
  kiln_rt_cuda_matmul_prepare(context.get(), params);
  const kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_INTERNAL);
  REQUIRE(s.message() == "cublasLtMatmulAlgoGetHeuristic for MatMul 2x2x3333: no algorithm");
}

TEST_CASE("Without cuBLASLt a matmul is UNAVAILABLE, naming what was tried") {
  setenv("KILN_CUBLASLT", "libno_such_cublaslt.so", 1);
  kiln::rt::Context context(kiln_cuda_context_create_with_driver(kFakeCudaDriver, 0));
  const int64_t params[] = {2, 2, 2, 0, 0, 0};
  kiln_rt_cuda_matmul_prepare(context.get(), params);
  const kiln::rt::Status s = context.TakeStatus();
  // $KILN_CUBLASLT is the only path tried when set.
  REQUIRE(s.code() == KILN_UNAVAILABLE);
  REQUIRE(s.message().find("cuBLASLt (for matmuls on the GPU) could not be opened; tried:\n  "
                           "libno_such_cublaslt.so") == 0);
  REQUIRE(s.message().find("libcublasLt.so.13") == std::string::npos);
}

}  // namespace
