// The benchmark workloads compile and run: every Run() is OK with finite outputs, and the
// memory-bound ones (W4a GELU, W4b LayerNorm) agree with a direct computation, so kiln_bench times
// correct code.
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>

#include "bench/w1b1.h"
#include "bench/w1b128.h"
#include "bench/w2.h"
#include "bench/w3.h"
#include "bench/w4a.h"
#include "bench/w4b.h"
#include "bench/w5.h"
#include "catch2/catch.hpp"

namespace {

using namespace kiln_generated;  // NOLINT: the generated classes

template <typename Model>
std::unique_ptr<Model> RunOnce() {
  auto model = std::make_unique<Model>();
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (const kiln_tensor& t : model->inputs()) {
    for (int64_t i = 0; i < kiln_tensor_num_elements(&t); ++i) {
      if (t.dtype == KILN_I32) static_cast<int32_t*>(t.data)[i] = static_cast<int32_t>(rng() % 10);
      if (t.dtype == KILN_F32) static_cast<float*>(t.data)[i] = value(rng);
    }
  }
  kiln::rt::Status s = model->Run();
  INFO(s.ToString());
  REQUIRE(s.ok());
  for (const kiln_tensor& t : model->outputs()) {
    INFO("output " << t.name);
    REQUIRE(t.dtype == KILN_F32);
    const float* data = static_cast<const float*>(t.data);
    for (int64_t i = 0; i < kiln_tensor_num_elements(&t); ++i) REQUIRE(std::isfinite(data[i]));
  }
  return model;
}

TEST_CASE("Every workload runs") {
  RunOnce<W1b1>();
  RunOnce<W1b128>();
  RunOnce<W2>();
  RunOnce<W3>();
  RunOnce<W4a>();
  RunOnce<W4b>();
  RunOnce<W5>();
}

TEST_CASE("W4a is gelu(x * a + b) with the erf GELU, per column") {
  auto m = RunOnce<W4a>();
  for (int64_t row : {0, 1234, 4095}) {
    for (int64_t col : {0, 517, 1023}) {
      const double v = double{m->x()[row * 1024 + col]} * m->a()[col] + m->b()[col];
      const double expected = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
      INFO("row " << row << " col " << col);
      REQUIRE(m->y()[row * 1024 + col] == Approx(expected).margin(1e-6).epsilon(1e-5));
    }
  }
}

TEST_CASE("W4b is layernorm over the last axis with gamma and beta") {
  auto m = RunOnce<W4b>();
  for (int64_t row : {0, 2047, 4095}) {
    const float* x = m->x() + row * 1024;
    double mean = 0, var = 0;
    for (int i = 0; i < 1024; ++i) mean += x[i];
    mean /= 1024;
    for (int i = 0; i < 1024; ++i) var += (x[i] - mean) * (x[i] - mean);
    var /= 1024;
    for (int64_t col : {0, 300, 1023}) {
      const double expected =
          (x[col] - mean) / std::sqrt(var + 1e-5) * m->gamma()[col] + m->beta()[col];
      INFO("row " << row << " col " << col);
      REQUIRE(m->y()[row * 1024 + col] == Approx(expected).margin(1e-5).epsilon(1e-4));
    }
  }
}

}  // namespace
