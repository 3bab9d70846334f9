// The oneDNN hooks against plain loops: matmul with every transpose combination (and one-row
// products, which take Kiln's matrix-vector kernel), and the three
// convolutions with strides, dilations and uneven padding.
#include "runtime/dnnl_kernels.h"

#include <atomic>
#include <cmath>
#include <random>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/runtime.h"

namespace {

std::vector<float> Random(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

void RequireClose(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(std::fabs(got[i] - want[i]) <= 1e-4 * std::max(1.0, std::fabs(want[i])));
  }
}

TEST_CASE("kiln_rt_dnnl_matmul matches loops for every transpose") {
  std::mt19937 rng(1);
  // One row takes Kiln's matrix-vector kernel: small (serial, every tail) and large (split over
  // threads: 4 column blocks + 44 columns, 75 row blocks, 517 = 32 x 16 + 5).
  kiln::rt::Context context(kiln_dnnl_context_create(3));
  struct Shape {
    int64_t m, n, k;
  };
  for (const Shape& s : {Shape{5, 7, 3}, Shape{1, 7, 3}, Shape{1, 300, 517}, Shape{64, 130, 33}}) {
    const int64_t m = s.m, n = s.n, k = s.k;
    for (int ta = 0; ta < 2; ++ta) {
      for (int tb = 0; tb < 2; ++tb) {
        INFO(m << "x" << n << "x" << k << " transpose_a " << ta << " transpose_b " << tb);
        std::vector<float> a = Random(m * k, rng), b = Random(k * n, rng), c(m * n, -9);
        std::vector<double> want(m * n, 0);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            for (int64_t p = 0; p < k; ++p)
              want[i * n + j] +=
                  double(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
        const int64_t params[] = {m, n, k, ta, tb};
        // Twice: the second call reuses the primitive.
        for (int call = 0; call < 2; ++call)
          kiln_rt_dnnl_matmul(context.get(), params, a.data(), b.data(), c.data());
        REQUIRE(context.TakeStatus().ok());
        RequireClose(c, want);
      }
    }
  }
}

TEST_CASE("kiln_rt_dnnl_batch_matmul matches loops for every transpose") {
  std::mt19937 rng(3);
  kiln::rt::Context context;
  const int64_t batch = 3, m = 4, n = 5, k = 6;
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      std::vector<float> a = Random(batch * m * k, rng), b = Random(batch * k * n, rng),
                         c(batch * m * n);
      std::vector<double> want(c.size(), 0);
      for (int64_t q = 0; q < batch; ++q)
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j)
            for (int64_t p = 0; p < k; ++p)
              want[(q * m + i) * n + j] +=
                  double(ta ? a[(q * k + p) * m + i] : a[(q * m + i) * k + p]) *
                  (tb ? b[(q * n + j) * k + p] : b[(q * k + p) * n + j]);
      const int64_t params[] = {batch, m, n, k, ta, tb};
      kiln_rt_dnnl_batch_matmul(context.get(), params, a.data(), b.data(), c.data());
      REQUIRE(context.TakeStatus().ok());
      RequireClose(c, want);
    }
  }
}

TEST_CASE("kiln_rt_dnnl convolutions match loops") {
  std::mt19937 rng(2);
  kiln::rt::Context context;
  struct Case {
    int64_t n, h, w, c, kh, kw, o, sh, sw, dh, dw, pt, pl, pb, pr;
  };
  for (const Case& k : {Case{2, 6, 5, 3, 3, 3, 4, 1, 1, 1, 1, 1, 1, 1, 1},
                        Case{1, 7, 8, 2, 3, 2, 3, 2, 3, 1, 1, 0, 1, 2, 0},
                        Case{2, 9, 9, 2, 3, 3, 2, 1, 2, 2, 1, 2, 0, 1, 1}}) {
    const int64_t oh = (k.h + k.pt + k.pb - (k.kh - 1) * k.dh - 1) / k.sh + 1;
    const int64_t ow = (k.w + k.pl + k.pr - (k.kw - 1) * k.dw - 1) / k.sw + 1;
    const int64_t params[] = {k.n,  k.h,  k.w,  k.c,  k.kh, k.kw, k.o,  oh,  ow,
                              k.sh, k.sw, k.dh, k.dw, k.pt, k.pl, k.pb, k.pr};
    std::vector<float> x = Random(k.n * k.h * k.w * k.c, rng),
                       f = Random(k.kh * k.kw * k.c * k.o, rng),
                       dy = Random(k.n * oh * ow * k.o, rng);
    std::vector<double> y(dy.size(), 0), dx(x.size(), 0), df(f.size(), 0);
    for (int64_t b = 0; b < k.n; ++b)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j)
          for (int64_t u = 0; u < k.kh; ++u)
            for (int64_t v = 0; v < k.kw; ++v) {
              const int64_t ih = i * k.sh - k.pt + u * k.dh, iw = j * k.sw - k.pl + v * k.dw;
              if (ih < 0 || ih >= k.h || iw < 0 || iw >= k.w) continue;
              for (int64_t ci = 0; ci < k.c; ++ci)
                for (int64_t co = 0; co < k.o; ++co) {
                  const int64_t xi = ((b * k.h + ih) * k.w + iw) * k.c + ci,
                                fi = ((u * k.kw + v) * k.c + ci) * k.o + co,
                                yi = ((b * oh + i) * ow + j) * k.o + co;
                  y[yi] += double(x[xi]) * f[fi];
                  dx[xi] += double(dy[yi]) * f[fi];
                  df[fi] += double(x[xi]) * dy[yi];
                }
            }
    std::vector<float> got_y(y.size()), got_dx(dx.size()), got_df(df.size());
    kiln_rt_dnnl_conv2d(context.get(), params, x.data(), f.data(), got_y.data());
    kiln_rt_dnnl_conv2d_backprop_input(context.get(), params, dy.data(), f.data(), got_dx.data());
    kiln_rt_dnnl_conv2d_backprop_filter(context.get(), params, x.data(), dy.data(), got_df.data());
    REQUIRE(context.TakeStatus().ok());
    RequireClose(got_y, y);
    RequireClose(got_dx, dx);
    RequireClose(got_df, df);
    // With a bias per output channel, and then a ReLU.
    const std::vector<float> bias = Random(k.o, rng);
    for (int64_t relu = 0; relu < 2; ++relu) {
      std::vector<int64_t> bias_params(params, params + 17);
      bias_params.push_back(relu);
      std::vector<double> want = y;
      for (size_t i = 0; i < want.size(); ++i) {
        want[i] += bias[i % k.o];
        if (relu) want[i] = std::max(want[i], 0.0);
      }
      kiln_rt_dnnl_conv2d_bias(context.get(), bias_params.data(), x.data(), f.data(), bias.data(),
                               got_y.data());
      REQUIRE(context.TakeStatus().ok());
      RequireClose(got_y, want);
    }
  }
}

TEST_CASE("kiln_rt_dnnl_matmul_bias adds the bias, then maybe a ReLU, for one row and many") {
  std::mt19937 rng(3);
  kiln::rt::Context context(kiln_dnnl_context_create(2));
  for (int64_t m : {1, 6}) {
    for (int64_t tb = 0; tb < 2; ++tb) {
      for (int64_t relu = 0; relu < 2; ++relu) {
        INFO("m " << m << " transpose_b " << tb << " relu " << relu);
        const int64_t n = 70, k = 20;
        std::vector<float> a = Random(m * k, rng), b = Random(k * n, rng), bias = Random(n, rng),
                           c(m * n);
        std::vector<double> want(m * n, 0);
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            double sum = bias[j];
            for (int64_t p = 0; p < k; ++p)
              sum += double(a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
            want[i * n + j] = relu ? std::max(sum, 0.0) : sum;
          }
        const int64_t params[] = {m, n, k, 0, tb, relu};
        kiln_rt_dnnl_matmul_bias_prepare(context.get(), params);
        kiln_rt_dnnl_matmul_bias(context.get(), params, a.data(), b.data(), bias.data(), c.data());
        REQUIRE(context.TakeStatus().ok());
        RequireClose(c, want);
      }
    }
  }
}

TEST_CASE("prepared kernels are made before the first call, and calls make none") {
  kiln::rt::Context context;
  const int64_t matmul[] = {4, 3, 2, 0, 0}, gemv[] = {1, 3, 2, 0, 0};
  const int64_t conv[] = {1, 5, 5, 2, 3, 3, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0};
  kiln_rt_dnnl_matmul_prepare(context.get(), matmul);
  kiln_rt_dnnl_matmul_prepare(context.get(), gemv);  // one row: Kiln's kernel, no primitive
  kiln_rt_dnnl_conv2d_prepare(context.get(), conv);
  kiln_rt_dnnl_conv2d_backprop_input_prepare(context.get(), conv);
  kiln_rt_dnnl_conv2d_backprop_filter_prepare(context.get(), conv);
  REQUIRE(context.TakeStatus().ok());
  REQUIRE(kiln_dnnl_kernels_made(context.get()) == 4);
  std::vector<float> a(8, 1), b(6, 1), c(12), x(50, 1), f(72, 1), y(36);
  for (int call = 0; call < 3; ++call) {
    kiln_rt_dnnl_matmul(context.get(), matmul, a.data(), b.data(), c.data());
    kiln_rt_dnnl_matmul(context.get(), gemv, a.data(), b.data(), c.data());
    kiln_rt_dnnl_conv2d(context.get(), conv, x.data(), f.data(), y.data());
    kiln_rt_dnnl_conv2d_backprop_input(context.get(), conv, y.data(), f.data(), x.data());
    kiln_rt_dnnl_conv2d_backprop_filter(context.get(), conv, x.data(), y.data(), f.data());
  }
  REQUIRE(context.TakeStatus().ok());
  REQUIRE(kiln_dnnl_kernels_made(context.get()) == 4);
}

TEST_CASE("preparing a kernel oneDNN rejects sets the context's status before any run") {
  kiln::rt::Context context;
  const int64_t params[] = {-2, 3, 4, 0, 0};
  kiln_rt_dnnl_matmul_prepare(context.get(), params);
  kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_INTERNAL);
  REQUIRE(s.message().rfind("kiln_rt_dnnl_matmul: oneDNN error", 0) == 0);
}

TEST_CASE("a oneDNN error becomes the context's status, naming the kernel") {
  kiln::rt::Context context;
  const int64_t params[] = {-2, 3, 4, 0, 0};  // a negative dimension
  float a[1], b[1], c[1];
  kiln_rt_dnnl_matmul(context.get(), params, a, b, c);
  kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_INTERNAL);
  REQUIRE(s.message().rfind("kiln_rt_dnnl_matmul: oneDNN error", 0) == 0);
}

void CountRange(void* closure, int64_t begin, int64_t end) {
  auto* hits = static_cast<std::vector<std::atomic<int>>*>(closure);
  for (int64_t i = begin; i < end; ++i) ++(*hits)[i];
}

TEST_CASE("kiln_dnnl_context_create runs parallel loops on OpenMP's threads") {
  kiln::rt::Context context(kiln_dnnl_context_create(3));
  REQUIRE(context.num_threads() == 3);
  for (int64_t n : {1, 2, 3, 10, 1001}) {
    std::vector<std::atomic<int>> hits(n);
    kiln_rt_parallel_for(context.get(), n, CountRange, &hits);
    for (auto& h : hits) REQUIRE(h.load() == 1);
  }
}

}  // namespace
