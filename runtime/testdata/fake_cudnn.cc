// A stand-in for libcudnn so that runtime/cuda_dnn.cc is tested on machines without a GPU, with the
// fake driver (device memory is host memory). It computes what cuDNN's documentation defines, on
// the host: cross-correlation of NHWC tensors with KRSC (OHWI) filters and its two gradients, with
// symmetric padding, strides and dilations. Its heuristic offers a TF32-math algorithm first and
// then an FMA one, so a caller asking for exact f32 must skip the first. A filter of height 7
// finds no algorithm. Counters let tests see what the runtime made.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

constexpr int kSuccess = 0, kBadParam = 3, kNotSupported = 9;
int handles = 0, heuristics = 0, convolutions = 0, last_algo = -1;

struct Tensor {
  int n = 0, c = 0, h = 0, w = 0;
};
struct Conv {
  int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1, math = 0;
};
struct Perf {
  int algo, status;
  float time;
  size_t memory;
  int determinism, math_type, reserved[3];
};

// One cross-correlation of x [n,h,w,c] with w [o,kh,kw,c] into y [n,oh,ow,o], visiting each
// (output, filter, input) triple: `f` accumulates one product.
template <typename F>
void ForEach(const Tensor& x, const Tensor& f, const Tensor& y, const Conv& c, F visit) {
  for (int n = 0; n < y.n; ++n)
    for (int oy = 0; oy < y.h; ++oy)
      for (int ox = 0; ox < y.w; ++ox)
        for (int o = 0; o < y.c; ++o)
          for (int ky = 0; ky < f.h; ++ky)
            for (int kx = 0; kx < f.w; ++kx) {
              const int iy = oy * c.u - c.pad_h + ky * c.dil_h,
                        ix = ox * c.v - c.pad_w + kx * c.dil_w;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              for (int ci = 0; ci < x.c; ++ci) {
                visit(((n * x.h + iy) * x.w + ix) * x.c + ci,
                      ((o * f.h + ky) * f.w + kx) * f.c + ci,
                      ((n * y.h + oy) * y.w + ox) * y.c + o);
              }
            }
}

int Heuristic(const Tensor& f, int* returned, Perf* perf) {
  ++heuristics;
  if (f.h == 7) {
    *returned = 0;
    return kSuccess;
  }
  perf[0] = Perf{1, kSuccess, 0, 0, 0, 1, {}};    // tensor-op (TF32) math
  perf[1] = Perf{2, kSuccess, 0, 256, 0, 3, {}};  // FMA math
  *returned = 2;
  return kSuccess;
}

}  // namespace

extern "C" {

int cudnnCreate(void** handle) {
  ++handles;
  *handle = &handles;
  return kSuccess;
}
int cudnnDestroy(void*) {
  --handles;
  return kSuccess;
}
int cudnnSetStream(void*, void*) { return kSuccess; }
const char* cudnnGetErrorString(int status) {
  return status == kBadParam       ? "CUDNN_STATUS_BAD_PARAM"
         : status == kNotSupported ? "CUDNN_STATUS_NOT_SUPPORTED"
                                   : "?";
}
int cudnnCreateTensorDescriptor(void** d) {
  *d = new Tensor;
  return kSuccess;
}
int cudnnSetTensor4dDescriptor(void* d, int format, int type, int n, int c, int h, int w) {
  if (format != 1 || type != 0) return kNotSupported;  // NHWC f32 only
  *static_cast<Tensor*>(d) = Tensor{n, c, h, w};
  return kSuccess;
}
int cudnnDestroyTensorDescriptor(void* d) {
  delete static_cast<Tensor*>(d);
  return kSuccess;
}
int cudnnCreateFilterDescriptor(void** d) {
  *d = new Tensor;
  return kSuccess;
}
int cudnnSetFilter4dDescriptor(void* d, int type, int format, int k, int c, int h, int w) {
  if (format != 1 || type != 0) return kNotSupported;  // KRSC f32 only
  *static_cast<Tensor*>(d) = Tensor{k, c, h, w};
  return kSuccess;
}
int cudnnDestroyFilterDescriptor(void* d) {
  delete static_cast<Tensor*>(d);
  return kSuccess;
}
int cudnnCreateConvolutionDescriptor(void** d) {
  *d = new Conv;
  return kSuccess;
}
int cudnnSetConvolution2dDescriptor(void* d, int pad_h, int pad_w, int u, int v, int dil_h,
                                    int dil_w, int mode, int type) {
  if (mode != 1 || type != 0) return kNotSupported;  // cross-correlation in f32
  Conv* c = static_cast<Conv*>(d);
  *c = Conv{pad_h, pad_w, u, v, dil_h, dil_w, c->math};
  return kSuccess;
}
int cudnnSetConvolutionMathType(void* d, int math) {
  static_cast<Conv*>(d)->math = math;
  return kSuccess;
}
int cudnnDestroyConvolutionDescriptor(void* d) {
  delete static_cast<Conv*>(d);
  return kSuccess;
}
int cudnnGetConvolutionForwardAlgorithm_v7(void*, void*, void* w, void*, void*, int, int* returned,
                                           Perf* perf) {
  return Heuristic(*static_cast<Tensor*>(w), returned, perf);
}
int cudnnGetConvolutionBackwardDataAlgorithm_v7(void*, void* w, void*, void*, void*, int,
                                                int* returned, Perf* perf) {
  return Heuristic(*static_cast<Tensor*>(w), returned, perf);
}
int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void*, void*, void*, void*, void* dw, int,
                                                  int* returned, Perf* perf) {
  return Heuristic(*static_cast<Tensor*>(dw), returned, perf);
}
int WorkspaceSize(int algo, size_t* bytes) {
  *bytes = algo == 2 ? 256 : 0;
  return kSuccess;
}
int cudnnGetConvolutionForwardWorkspaceSize(void*, void*, void*, void*, void*, int algo,
                                            size_t* bytes) {
  return WorkspaceSize(algo, bytes);
}
int cudnnGetConvolutionBackwardDataWorkspaceSize(void*, void*, void*, void*, void*, int algo,
                                                 size_t* bytes) {
  return WorkspaceSize(algo, bytes);
}
int cudnnGetConvolutionBackwardFilterWorkspaceSize(void*, void*, void*, void*, void*, int algo,
                                                   size_t* bytes) {
  return WorkspaceSize(algo, bytes);
}
int cudnnConvolutionForward(void*, const void*, void* xd, const void* x, void* wd, const void* w,
                            void* cd, int algo, void*, size_t, const void*, void* yd, void* y) {
  ++convolutions, last_algo = algo;
  const Tensor &X = *static_cast<Tensor*>(xd), &W = *static_cast<Tensor*>(wd),
               &Y = *static_cast<Tensor*>(yd);
  float* out = static_cast<float*>(y);
  for (int i = 0; i < Y.n * Y.h * Y.w * Y.c; ++i) out[i] = 0;
  ForEach(X, W, Y, *static_cast<Conv*>(cd), [&](int xi, int wi, int yi) {
    out[yi] += static_cast<const float*>(x)[xi] * static_cast<const float*>(w)[wi];
  });
  return kSuccess;
}
int cudnnConvolutionBackwardData(void*, const void*, void* wd, const void* w, void* dyd,
                                 const void* dy, void* cd, int algo, void*, size_t, const void*,
                                 void* dxd, void* dx) {
  ++convolutions, last_algo = algo;
  const Tensor &W = *static_cast<Tensor*>(wd), &DY = *static_cast<Tensor*>(dyd),
               &DX = *static_cast<Tensor*>(dxd);
  float* out = static_cast<float*>(dx);
  for (int i = 0; i < DX.n * DX.h * DX.w * DX.c; ++i) out[i] = 0;
  ForEach(DX, W, DY, *static_cast<Conv*>(cd), [&](int xi, int wi, int yi) {
    out[xi] += static_cast<const float*>(dy)[yi] * static_cast<const float*>(w)[wi];
  });
  return kSuccess;
}
int cudnnConvolutionBackwardFilter(void*, const void*, void* xd, const void* x, void* dyd,
                                   const void* dy, void* cd, int algo, void*, size_t, const void*,
                                   void* dwd, void* dw) {
  ++convolutions, last_algo = algo;
  const Tensor &X = *static_cast<Tensor*>(xd), &DY = *static_cast<Tensor*>(dyd),
               &DW = *static_cast<Tensor*>(dwd);
  float* out = static_cast<float*>(dw);
  for (int i = 0; i < DW.n * DW.h * DW.w * DW.c; ++i) out[i] = 0;
  ForEach(X, DW, DY, *static_cast<Conv*>(cd), [&](int xi, int wi, int yi) {
    out[wi] += static_cast<const float*>(dy)[yi] * static_cast<const float*>(x)[xi];
  });
  return kSuccess;
}

// For tests.
int fake_cudnn_handles() { return handles; }
int fake_cudnn_heuristics() { return heuristics; }
int fake_cudnn_convolutions() { return convolutions; }
int fake_cudnn_last_algo() { return last_algo; }

}  // extern "C"
