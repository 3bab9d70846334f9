// The CUDA target's convolution hooks (runtime/cuda_dnn.cc) without a GPU: on the fake driver, with
// a fake cuDNN that computes what cuDNN documents on the host (runtime/testdata/), each convolution
// and both gradients match a direct computation in Kiln's layouts for several geometries; plans are
// made once per call site; exact f32 takes an FMA-math algorithm; errors name the convolution.
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
using kiln::testing::kFakeCudaDriver;
using kiln::testing::kFakeCudnn;
using kiln::testing::RandomFloats;

int DnnCounter(const char* name) { return FakeCounter(kFakeCudnn, name); }

struct Geometry {
  int64_t n, h, w, c, kh, kw, o, stride, dilation, pad;
  int64_t oh() const { return (h + 2 * pad - dilation * (kh - 1) - 1) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad - dilation * (kw - 1) - 1) / stride + 1; }
  std::vector<int64_t> Params(int64_t precision = 0) const {
    return {n,      h,      w,        c,        kh,  kw,  o,   oh(), ow(),
            stride, stride, dilation, dilation, pad, pad, pad, pad,  precision};
  }
};

// Calls f(input index, HWIO filter index, output index) for each product of the convolution.
template <typename F>
void Products(const Geometry& g, F f) {
  for (int64_t b = 0; b < g.n; ++b)
    for (int64_t y = 0; y < g.oh(); ++y)
      for (int64_t x = 0; x < g.ow(); ++x)
        for (int64_t i = 0; i < g.kh; ++i)
          for (int64_t j = 0; j < g.kw; ++j) {
            const int64_t iy = y * g.stride - g.pad + i * g.dilation,
                          ix = x * g.stride - g.pad + j * g.dilation;
            if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
            for (int64_t c = 0; c < g.c; ++c)
              for (int64_t o = 0; o < g.o; ++o) {
                f(((b * g.h + iy) * g.w + ix) * g.c + c, ((i * g.kw + j) * g.c + c) * g.o + o,
                  ((b * g.oh() + y) * g.ow() + x) * g.o + o);
              }
          }
}

// HWIO [kh, kw, c, o] → OHWI [o, kh, kw, c], and back.
std::vector<float> ToOhwi(const std::vector<float>& hwio, const Geometry& g) {
  std::vector<float> ohwi(hwio.size());
  for (int64_t s = 0; s < g.kh * g.kw; ++s)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t o = 0; o < g.o; ++o)
        ohwi[(o * g.kh * g.kw + s) * g.c + c] = hwio[(s * g.c + c) * g.o + o];
  return ohwi;
}
std::vector<float> ToHwio(const std::vector<float>& ohwi, const Geometry& g) {
  std::vector<float> hwio(ohwi.size());
  for (int64_t s = 0; s < g.kh * g.kw; ++s)
    for (int64_t c = 0; c < g.c; ++c)
      for (int64_t o = 0; o < g.o; ++o)
        hwio[(s * g.c + c) * g.o + o] = ohwi[(o * g.kh * g.kw + s) * g.c + c];
  return hwio;
}

void RequireClose(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    REQUIRE(got[i] == Approx(want[i]).margin(1e-4));
  }
}

TEST_CASE("cuDNN convolutions and their gradients match direct computation in Kiln's layouts") {
  kiln::rt::Context context = FakeGpu();
  std::mt19937 rng(4);
  for (const Geometry& g :
       {Geometry{2, 6, 5, 3, 3, 3, 4, 1, 1, 1}, Geometry{1, 7, 7, 2, 3, 3, 3, 2, 1, 0},
        Geometry{2, 8, 6, 2, 2, 3, 2, 1, 2, 1}}) {
    INFO("geometry n " << g.n << " h " << g.h << " w " << g.w << " c " << g.c << " k " << g.kh
                       << "x" << g.kw << " o " << g.o << " stride " << g.stride << " dilation "
                       << g.dilation << " pad " << g.pad);
    const std::vector<int64_t> params = g.Params();
    const std::vector<float> input = RandomFloats(g.n * g.h * g.w * g.c, rng),
                             filter = RandomFloats(g.kh * g.kw * g.c * g.o, rng),
                             grad = RandomFloats(g.n * g.oh() * g.ow() * g.o, rng);
    std::vector<double> output(grad.size()), grad_input(input.size()), grad_filter(filter.size());
    Products(g, [&](int64_t i, int64_t f, int64_t o) {
      output[o] += double(input[i]) * filter[f];
      grad_input[i] += double(grad[o]) * filter[f];
      grad_filter[f] += double(grad[o]) * input[i];
    });
    const std::vector<float> ohwi = ToOhwi(filter, g);
    std::vector<float> y(output.size()), dx(input.size()), dw(filter.size());
    kiln_rt_cuda_conv2d_prepare(context.get(), params.data());
    kiln_rt_cuda_conv2d(context.get(), params.data(), input.data(), ohwi.data(), y.data());
    kiln_rt_cuda_conv2d_backprop_input(context.get(), params.data(), grad.data(), ohwi.data(),
                                       dx.data());
    kiln_rt_cuda_conv2d_backprop_filter(context.get(), params.data(), input.data(), grad.data(),
                                        dw.data());
    REQUIRE(context.TakeStatus().ok());
    RequireClose(y, output);
    RequireClose(dx, grad_input);
    RequireClose(ToHwio(dw, g), grad_filter);
  }
}

TEST_CASE("cuDNN plans are made once per call site, in FMA math for exact f32") {
  const int handles = DnnCounter("fake_cudnn_handles");
  {
    kiln::rt::Context context = FakeGpu();
    const Geometry g{1, 4, 4, 1, 3, 3, 1, 1, 1, 1};
    std::vector<float> x(16, 1), w(9, 1), y(16);
    const std::vector<int64_t> exact = g.Params(0), tf32 = g.Params(1);
    const int heuristics = DnnCounter("fake_cudnn_heuristics");
    kiln_rt_cuda_conv2d_prepare(context.get(), exact.data());
    kiln_rt_cuda_conv2d_prepare(context.get(), tf32.data());
    REQUIRE(DnnCounter("fake_cudnn_heuristics") == heuristics + 2);
    REQUIRE(DnnCounter("fake_cudnn_handles") == handles + 1);
    for (int i = 0; i < 3; ++i)
      kiln_rt_cuda_conv2d(context.get(), exact.data(), x.data(), w.data(), y.data());
    REQUIRE(DnnCounter("fake_cudnn_last_algo") ==
            2);  // the fake's FMA algorithm, not its first (TF32) one
    kiln_rt_cuda_conv2d(context.get(), tf32.data(), x.data(), w.data(), y.data());
    REQUIRE(DnnCounter("fake_cudnn_last_algo") == 1);
    REQUIRE(context.TakeStatus().ok());
    REQUIRE(DnnCounter("fake_cudnn_heuristics") == heuristics + 2);
  }
  REQUIRE(DnnCounter("fake_cudnn_handles") == handles);  // released with the context
}

TEST_CASE("cuDNN errors name the convolution") {
  kiln::rt::Context context = FakeGpu();
  const Geometry g{1, 9, 9, 2, 7, 7, 3, 1, 1, 0};  // the fake has no algorithm for 7-high filters
  const std::vector<int64_t> params = g.Params();
  kiln_rt_cuda_conv2d_backprop_filter_prepare(context.get(), params.data());
  kiln::rt::Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_INTERNAL);
  REQUIRE(s.message() ==
          "cudnnGetConvolutionAlgorithm_v7 for Conv2DBackpropFilter 1x9x9x2 * 7x7x2x3 -> 1x3x3x3: "
          "no algorithm in "
          "FMA math");
  // A failed plan is not kept: the next call tries again (and fails the same way) rather than
  // running half-made descriptors.
  std::vector<float> x(162), dy(27), dw(294);
  kiln_rt_cuda_conv2d_backprop_filter(context.get(), params.data(), x.data(), dy.data(), dw.data());
  REQUIRE(context.TakeStatus().code() == KILN_INTERNAL);
}

}  // namespace
