// cuDNN behind the CUDA target's convolution hooks (runtime/cuda.h), opened at run time like the
// driver. cuDNN 9's legacy convolution API (deprecated, but plain C and enough here): NHWC tensors,
// filters OHWI (KRSC; the compiler transposes Kiln's HWIO), cross-correlation, FMA math (no TF32
// unless asked), the algorithm chosen by cuDNN's heuristic at prepare.
#include <dlfcn.h>

#include <array>
#include <memory>
#include <string>

#include "runtime/cuda.h"
#include "runtime/cuda_internal.h"
#include "runtime/cuda_library_abi.h"
#include "runtime/hook_params.h"

namespace kiln {
namespace cuda_internal {
namespace {

using namespace cuda_abi;  // NOLINT: the library's enumerators

struct AlgoPerf {  // cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t
  int algo;
  int status;
  float time;
  size_t memory;
  int determinism;
  int math_type;
  int reserved[3];
};
static_assert(sizeof(AlgoPerf) == kDnnAlgoPerfBytes);

// The three convolutions, in the order of the hooks.
enum Kind { kForward, kBackwardData, kBackwardFilter };

struct Api {
  int (*cudnnCreate)(Handle*);
  int (*cudnnDestroy)(Handle);
  int (*cudnnSetStream)(Handle, Handle);
  const char* (*cudnnGetErrorString)(int);
  int (*cudnnCreateTensorDescriptor)(Handle*);
  int (*cudnnSetTensor4dDescriptor)(Handle, int format, int type, int n, int c, int h, int w);
  int (*cudnnDestroyTensorDescriptor)(Handle);
  int (*cudnnCreateFilterDescriptor)(Handle*);
  int (*cudnnSetFilter4dDescriptor)(Handle, int type, int format, int k, int c, int h, int w);
  int (*cudnnDestroyFilterDescriptor)(Handle);
  int (*cudnnCreateConvolutionDescriptor)(Handle*);
  int (*cudnnSetConvolution2dDescriptor)(Handle, int pad_h, int pad_w, int u, int v, int dilation_h,
                                         int dilation_w, int mode, int type);
  int (*cudnnSetConvolutionMathType)(Handle, int);
  int (*cudnnDestroyConvolutionDescriptor)(Handle);
  // Per kind: the heuristic, the workspace size and the convolution. Their operands come in each
  // call's own order (see Run).
  int (*get_algorithm[3])(Handle, Handle, Handle, Handle, Handle, int, int*, AlgoPerf*);
  int (*workspace_size[3])(Handle, Handle, Handle, Handle, Handle, int, size_t*);
  int (*convolution[3])(Handle, const void*, Handle, const void*, Handle, const void*, Handle, int,
                        void*, size_t, const void*, Handle, void*);
};

struct Plan {
  Handle input = nullptr, output = nullptr, filter = nullptr, conv = nullptr;  // NHWC x, y; OHWI w
  int algo = 0;
  size_t workspace = 0;
  std::string what;  // "Conv2D 64x28x28x1 * 3x3x1x32", for errors
};

struct Dnn {
  void* library = nullptr;
  Api api{};
  Handle handle = nullptr;
  const Driver* driver = nullptr;
  CUdeviceptr workspace = 0;  // the largest any plan needs, shared: calls run one at a time
  size_t workspace_bytes = 0;
  PlanCache<Plan> plans;

  void Destroy(const Plan& p) {
    for (Handle t : {p.input, p.output}) {
      if (t != nullptr) api.cudnnDestroyTensorDescriptor(t);
    }
    if (p.filter != nullptr) api.cudnnDestroyFilterDescriptor(p.filter);
    if (p.conv != nullptr) api.cudnnDestroyConvolutionDescriptor(p.conv);
  }

  ~Dnn() {
    plans.ForEach([&](const Plan& p) { Destroy(p); });
    if (handle != nullptr) api.cudnnDestroy(handle);
    if (workspace != 0) driver->cuMemFree(workspace);
    if (library != nullptr) dlclose(library);
  }
};

bool DnnCheck(kiln_context* context, const Dnn& d, int r, const char* call,
              const std::string& what) {
  return r == kDnnSuccess ||
         LibraryError(context, call, what,
                      d.api.cudnnGetErrorString != nullptr ? d.api.cudnnGetErrorString(r) : nullptr,
                      "cuDNN", r);
}

Dnn* GetDnn(kiln_context* context, State& s) {
  if (s.dnn != nullptr) return static_cast<Dnn*>(s.dnn.get());
  auto d = std::make_shared<Dnn>();
  d->driver = &s.driver;
  d->library =
      OpenLibrary(context, "KILN_CUDNN", {"libcudnn.so.9", "/usr/local/cuda/lib64/libcudnn.so.9"},
                  "cuDNN (for convolutions on the GPU)");
  if (d->library == nullptr) return nullptr;
  const std::string what = "cuDNN";
  Api& a = d->api;
  void* l = d->library;
  if (!LookUp(context, l, what, "cudnnCreate", a.cudnnCreate) ||
      !LookUp(context, l, what, "cudnnDestroy", a.cudnnDestroy) ||
      !LookUp(context, l, what, "cudnnSetStream", a.cudnnSetStream) ||
      !LookUp(context, l, what, "cudnnGetErrorString", a.cudnnGetErrorString) ||
      !LookUp(context, l, what, "cudnnCreateTensorDescriptor", a.cudnnCreateTensorDescriptor) ||
      !LookUp(context, l, what, "cudnnSetTensor4dDescriptor", a.cudnnSetTensor4dDescriptor) ||
      !LookUp(context, l, what, "cudnnDestroyTensorDescriptor", a.cudnnDestroyTensorDescriptor) ||
      !LookUp(context, l, what, "cudnnCreateFilterDescriptor", a.cudnnCreateFilterDescriptor) ||
      !LookUp(context, l, what, "cudnnSetFilter4dDescriptor", a.cudnnSetFilter4dDescriptor) ||
      !LookUp(context, l, what, "cudnnDestroyFilterDescriptor", a.cudnnDestroyFilterDescriptor) ||
      !LookUp(context, l, what, "cudnnCreateConvolutionDescriptor",
              a.cudnnCreateConvolutionDescriptor) ||
      !LookUp(context, l, what, "cudnnSetConvolution2dDescriptor",
              a.cudnnSetConvolution2dDescriptor) ||
      !LookUp(context, l, what, "cudnnSetConvolutionMathType", a.cudnnSetConvolutionMathType) ||
      !LookUp(context, l, what, "cudnnDestroyConvolutionDescriptor",
              a.cudnnDestroyConvolutionDescriptor) ||
      !LookUp(context, l, what, "cudnnGetConvolutionForwardAlgorithm_v7",
              a.get_algorithm[kForward]) ||
      !LookUp(context, l, what, "cudnnGetConvolutionBackwardDataAlgorithm_v7",
              a.get_algorithm[kBackwardData]) ||
      !LookUp(context, l, what, "cudnnGetConvolutionBackwardFilterAlgorithm_v7",
              a.get_algorithm[kBackwardFilter]) ||
      !LookUp(context, l, what, "cudnnGetConvolutionForwardWorkspaceSize",
              a.workspace_size[kForward]) ||
      !LookUp(context, l, what, "cudnnGetConvolutionBackwardDataWorkspaceSize",
              a.workspace_size[kBackwardData]) ||
      !LookUp(context, l, what, "cudnnGetConvolutionBackwardFilterWorkspaceSize",
              a.workspace_size[kBackwardFilter]) ||
      !LookUp(context, l, what, "cudnnConvolutionForward", a.convolution[kForward]) ||
      !LookUp(context, l, what, "cudnnConvolutionBackwardData", a.convolution[kBackwardData]) ||
      !LookUp(context, l, what, "cudnnConvolutionBackwardFilter", a.convolution[kBackwardFilter])) {
    return nullptr;
  }
  if (!DnnCheck(context, *d, a.cudnnCreate(&d->handle), "cudnnCreate", "the context") ||
      !DnnCheck(context, *d, a.cudnnSetStream(d->handle, s.stream), "cudnnSetStream",
                "the context")) {
    return nullptr;
  }
  s.dnn = d;
  return d.get();
}

// The descriptors' operands for `kind`, in the order cuDNN's calls take them: (x, w, y) forward,
// (w, dy, dx) backward data, (x, dy, dw) backward filter.
std::array<Handle, 3> Operands(const Plan& p, Kind kind) {
  switch (kind) {
    case kForward: return {p.input, p.filter, p.output};
    case kBackwardData: return {p.filter, p.output, p.input};
    case kBackwardFilter: return {p.input, p.output, p.filter};
  }
  return {};
}

constexpr int kNumParams = KILN_CONV_PARAMS + 1;  // the convolution's params and the precision

// The plan for a call site on `state` (Ready; params as runtime/cuda.h documents them), made once.
Plan* GetPlan(kiln_context* context, State& state, Kind kind, const int64_t* params) {
  State* s = &state;
  const int64_t n = params[KILN_CONV_N], h = params[KILN_CONV_H], w = params[KILN_CONV_W],
                c = params[KILN_CONV_C], kh = params[KILN_CONV_KH], kw = params[KILN_CONV_KW],
                o = params[KILN_CONV_O], oh = params[KILN_CONV_OH], ow = params[KILN_CONV_OW],
                stride_h = params[KILN_CONV_STRIDE_H], stride_w = params[KILN_CONV_STRIDE_W],
                dilation_h = params[KILN_CONV_DILATION_H],
                dilation_w = params[KILN_CONV_DILATION_W], pad_top = params[KILN_CONV_PAD_TOP],
                pad_left = params[KILN_CONV_PAD_LEFT], precision = params[KILN_CONV_PARAMS];
  std::lock_guard<std::mutex> lock(s->mu);
  Dnn* d = GetDnn(context, *s);
  if (d == nullptr) return nullptr;
  if (Plan* found = d->plans.Find(kind, params, kNumParams)) return found;
  Plan p;
  DiscardUnlessKept<Dnn, Plan> discard{d, &p};
  auto dims = [](std::initializer_list<int64_t> v) {
    std::string t;
    for (int64_t x : v) t += (t.empty() ? "" : "x") + std::to_string(x);
    return t;
  };
  static const char* const kNames[] = {"Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"};
  p.what = std::string(kNames[kind]) + " " + dims({n, h, w, c}) + " * " + dims({kh, kw, c, o}) +
           " -> " + dims({n, oh, ow, o});
  const Api& a = d->api;
  auto fail = [&](int r, const char* call) { return !DnnCheck(context, *d, r, call, p.what); };
  auto i = [](int64_t v) { return static_cast<int>(v); };
  // TF32 (and bf16, which cuDNN does not offer for f32 data) is cuDNN's default math on sm_80+.
  const int math = precision == 0 ? kDnnFmaMath : kDnnDefaultMath;
  if (fail(a.cudnnCreateTensorDescriptor(&p.input), "cudnnCreateTensorDescriptor") ||
      fail(a.cudnnSetTensor4dDescriptor(p.input, kDnnNhwc, kDnnFloat, i(n), i(c), i(h), i(w)),
           "cudnnSetTensor4dDescriptor") ||
      fail(a.cudnnCreateTensorDescriptor(&p.output), "cudnnCreateTensorDescriptor") ||
      fail(a.cudnnSetTensor4dDescriptor(p.output, kDnnNhwc, kDnnFloat, i(n), i(o), i(oh), i(ow)),
           "cudnnSetTensor4dDescriptor") ||
      fail(a.cudnnCreateFilterDescriptor(&p.filter), "cudnnCreateFilterDescriptor") ||
      fail(a.cudnnSetFilter4dDescriptor(p.filter, kDnnFloat, kDnnNhwc, i(o), i(c), i(kh), i(kw)),
           "cudnnSetFilter4dDescriptor") ||
      fail(a.cudnnCreateConvolutionDescriptor(&p.conv), "cudnnCreateConvolutionDescriptor") ||
      fail(a.cudnnSetConvolution2dDescriptor(p.conv, i(pad_top), i(pad_left), i(stride_h),
                                             i(stride_w), i(dilation_h), i(dilation_w),
                                             kDnnCrossCorrelation, kDnnFloat),
           "cudnnSetConvolution2dDescriptor") ||
      fail(a.cudnnSetConvolutionMathType(p.conv, math), "cudnnSetConvolutionMathType")) {
    return nullptr;
  }
  // The heuristic's best algorithm that runs in this math mode (exact f32: FMA only).
  const std::array<Handle, 3> ops = Operands(p, kind);
  AlgoPerf perf[8];
  int returned = 0;
  if (fail(a.get_algorithm[kind](d->handle, ops[0], ops[1], p.conv, ops[2], 8, &returned, perf),
           "cudnnGetConvolutionAlgorithm_v7")) {
    return nullptr;
  }
  const AlgoPerf* chosen = nullptr;
  for (int k = 0; k < returned && chosen == nullptr; ++k) {
    if (perf[k].status == kDnnSuccess && (precision != 0 || perf[k].math_type == kDnnFmaMath))
      chosen = &perf[k];
  }
  if (chosen == nullptr) {
    kiln_context_set_error(
        context, KILN_INTERNAL,
        ("cudnnGetConvolutionAlgorithm_v7 for " + p.what + ": no algorithm in FMA math").c_str());
    return nullptr;
  }
  if (fail(a.workspace_size[kind](d->handle, ops[0], ops[1], p.conv, ops[2], chosen->algo,
                                  &p.workspace),
           "cudnnGetConvolutionWorkspaceSize")) {
    return nullptr;
  }
  if (p.workspace > d->workspace_bytes) {
    // Grown here, at prepare, never while a step is captured.
    if (d->workspace != 0) s->driver.cuMemFree(d->workspace);
    d->workspace = 0;
    d->workspace_bytes = 0;
    if (!Check(context, *s, s->driver.cuMemAlloc(&d->workspace, p.workspace),
               "cuMemAlloc (cuDNN workspace)")) {
      return nullptr;
    }
    d->workspace_bytes = p.workspace;
  }
  p.algo = chosen->algo;
  discard.plan = nullptr;
  return d->plans.Add(kind, params, kNumParams, std::move(p));
}

void Prepare(kiln_context* context, Kind kind, const int64_t* params) {
  if (State* s = Ready(context)) GetPlan(context, *s, kind, params);
}

// Runs a planned convolution: forward (x, w) → y, backward data (w, dy) → dx, backward filter
// (x, dy) → dw, with `first` and `second` the operands in that order.
void Run(kiln_context* context, Kind kind, const int64_t* params, const float* first,
         const float* second, float* result) {
  State* s = Ready(context);
  Plan* p = s != nullptr ? GetPlan(context, *s, kind, params) : nullptr;
  if (p == nullptr) return;
  Dnn& d = *static_cast<Dnn*>(s->dnn.get());
  const std::array<Handle, 3> ops = Operands(*p, kind);
  const float one = 1, zero = 0;
  static const char* const kCalls[] = {"cudnnConvolutionForward", "cudnnConvolutionBackwardData",
                                       "cudnnConvolutionBackwardFilter"};
  DnnCheck(context, d,
           d.api.convolution[kind](d.handle, &one, ops[0], first, ops[1], second, p->conv, p->algo,
                                   reinterpret_cast<void*>(d.workspace), p->workspace, &zero,
                                   ops[2], result),
           kCalls[kind], p->what);
}

}  // namespace
}  // namespace cuda_internal
}  // namespace kiln

namespace ci = kiln::cuda_internal;

extern "C" {

void kiln_rt_cuda_conv2d(kiln_context* context, const int64_t* params, const float* input,
                         const float* filter, float* output) {
  ci::Run(context, ci::kForward, params, input, filter, output);
}
void kiln_rt_cuda_conv2d_backprop_input(kiln_context* context, const int64_t* params,
                                        const float* grad, const float* filter, float* grad_input) {
  // cuDNN takes (w, dy): the filter first.
  ci::Run(context, ci::kBackwardData, params, filter, grad, grad_input);
}
void kiln_rt_cuda_conv2d_backprop_filter(kiln_context* context, const int64_t* params,
                                         const float* input, const float* grad,
                                         float* grad_filter) {
  ci::Run(context, ci::kBackwardFilter, params, input, grad, grad_filter);
}
void kiln_rt_cuda_conv2d_prepare(kiln_context* context, const int64_t* params) {
  ci::Prepare(context, ci::kForward, params);
}
void kiln_rt_cuda_conv2d_backprop_input_prepare(kiln_context* context, const int64_t* params) {
  ci::Prepare(context, ci::kBackwardData, params);
}
void kiln_rt_cuda_conv2d_backprop_filter_prepare(kiln_context* context, const int64_t* params) {
  ci::Prepare(context, ci::kBackwardFilter, params);
}

}  // extern "C"
