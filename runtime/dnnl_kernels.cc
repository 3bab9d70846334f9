// oneDNN behind Kiln's kernel hooks (runtime/dnnl_kernels.h).
#include "runtime/dnnl_kernels.h"

#include <omp.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "runtime/hook_params.h"

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;

// A primitive with the memory objects it runs on; each call only swaps the data pointers.
// A reorder between an operand in the caller's layout and the layout the primitive chose.
struct Stage {
  dnnl::reorder reorder;
  memory from, to;
};

struct Kernel {
  int kind = 0;
  std::vector<int64_t> params;
  dnnl::primitive primitive;
  std::vector<memory> operands;          // the caller's arrays, in the hook's order: inputs, result
  std::unordered_map<int, memory> args;  // what the primitive runs on, by oneDNN argument
  std::vector<Stage> before, after;      // reorders into the primitive's layouts and back
};

// Per context: the engine, a stream, and the primitives by (kernel, parameters).
struct State {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  std::mutex mu;
  std::map<std::pair<int, std::vector<int64_t>>, std::unique_ptr<Kernel>> kernels;
  // By call site: compiled code passes each site's parameters from one constant array, so its
  // address finds the kernel without building a key (the parameters are still compared).
  std::unordered_map<const int64_t*, Kernel*> by_site;
};

// The context's oneDNN state.
State* GetState(kiln_context* context) {
  // A context-less call (the C ABI allows a null context) uses one process-wide state.
  static State* process_state = new State;
  if (context == nullptr) return process_state;
  static const char kKey = 0;  // oneDNN's slot in a context
  return static_cast<State*>(kiln_context_library_state(
      context, &kKey, [] { return static_cast<void*>(new State); },
      [](void* s) { delete static_cast<State*>(s); }));
}

enum KernelKind {
  kMatMul,
  kConv2D,
  kConv2DBackpropInput,
  kConv2DBackpropFilter,
  kBatchMatMul,
  kMatMulBias,
  kConv2DBias
};
const char* const kNames[] = {"kiln_rt_dnnl_matmul",
                              "kiln_rt_dnnl_conv2d",
                              "kiln_rt_dnnl_conv2d_backprop_input",
                              "kiln_rt_dnnl_conv2d_backprop_filter",
                              "kiln_rt_dnnl_batch_matmul",
                              "kiln_rt_dnnl_matmul_bias",
                              "kiln_rt_dnnl_conv2d_bias"};
constexpr int kNumParams[] = {5, 17, 17, 17, 6, 6, 18};

// The epilogue of the _bias kernels: a ReLU after the bias when their last parameter says so.
dnnl::primitive_attr Epilogue(bool relu) {
  dnnl::primitive_attr attr;
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
    attr.set_post_ops(ops);
  }
  return attr;
}

struct Conv {
  memory::desc src, weights, dst;
  memory::dims strides, dilations, pad_l, pad_r;
};

// The caller's layouts (NHWC data, HWIO filter), or `any` of them to let oneDNN choose.
Conv ConvDescs(const int64_t* p, std::optional<Tag> any = std::nullopt) {
  const int64_t n = p[KILN_CONV_N], h = p[KILN_CONV_H], w = p[KILN_CONV_W], c = p[KILN_CONV_C],
                kh = p[KILN_CONV_KH], kw = p[KILN_CONV_KW], o = p[KILN_CONV_O],
                oh = p[KILN_CONV_OH], ow = p[KILN_CONV_OW];
  // oneDNN counts dilation from 0 (dense), Kiln from 1.
  return {memory::desc({n, c, h, w}, kF32, any.value_or(Tag::nhwc)),
          memory::desc({o, c, kh, kw}, kF32, any.value_or(Tag::hwio)),
          memory::desc({n, o, oh, ow}, kF32, any.value_or(Tag::nhwc)),
          {p[KILN_CONV_STRIDE_H], p[KILN_CONV_STRIDE_W]},
          {p[KILN_CONV_DILATION_H] - 1, p[KILN_CONV_DILATION_W] - 1},
          {p[KILN_CONV_PAD_TOP], p[KILN_CONV_PAD_LEFT]},
          {p[KILN_CONV_PAD_BOTTOM], p[KILN_CONV_PAD_RIGHT]}};
}

dnnl::convolution_forward::primitive_desc ConvForward(const Conv& d, const dnnl::engine& engine) {
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                      dnnl::algorithm::convolution_direct, d.src, d.weights, d.dst,
                                      d.strides, d.dilations, d.pad_l, d.pad_r),
      engine);
}

// With a bias (one per output channel) and maybe a ReLU.
dnnl::convolution_forward::primitive_desc ConvForwardBias(const Conv& d, const memory::desc& bias,
                                                          bool relu, const dnnl::engine& engine) {
  return dnnl::convolution_forward::primitive_desc(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training,
                                      dnnl::algorithm::convolution_direct, d.src, d.weights, bias,
                                      d.dst, d.strides, d.dilations, d.pad_l, d.pad_r),
      Epilogue(relu), engine);
}

std::unique_ptr<Kernel> MakeKernel(int kind, const int64_t* p, const dnnl::engine& engine) {
  auto kernel = std::make_unique<Kernel>();
  kernel->kind = kind;
  kernel->params.assign(p, p + kNumParams[kind]);
  auto arg = [&](int which, const memory::desc& md) {
    memory m(md, engine, DNNL_MEMORY_NONE);
    kernel->operands.push_back(m);
    kernel->args.emplace(which, m);
  };
  // An operand in the caller's layout `user` that the primitive wants in `chosen`: staged through a
  // buffer of its own when the two differ.
  auto staged = [&](int which, const memory::desc& user, const memory::desc& chosen, bool output) {
    memory caller(user, engine, DNNL_MEMORY_NONE);
    kernel->operands.push_back(caller);
    if (chosen == user) {
      kernel->args.emplace(which, caller);
      return;
    }
    memory internal(chosen, engine);
    kernel->args.emplace(which, internal);
    if (output) {
      kernel->after.push_back({dnnl::reorder(internal, caller), internal, caller});
    } else {
      kernel->before.push_back({dnnl::reorder(caller, internal), caller, internal});
    }
  };
  switch (kind) {
    case kMatMul:
    case kMatMulBias:
    case kBatchMatMul: {
      // A matmul is a batched one of one batch (described in 2-D, as oneDNN's plain GEMM wants).
      const bool batched = kind == kBatchMatMul;
      const int64_t batch = batched ? p[0] : 1;
      const int64_t* q = batched ? p + 1 : p;  // a matmul's params after the batch count
      const int64_t m = q[KILN_MATMUL_M], n = q[KILN_MATMUL_N], k = q[KILN_MATMUL_K];
      // rows x cols, row-major; a transposed operand is the plain one read with swapped strides.
      auto desc = [&](int64_t rows, int64_t cols, bool transposed) {
        memory::dims dims = {rows, cols},
                     strides = transposed ? memory::dims{1, rows} : memory::dims{cols, 1};
        if (batched) {
          dims.insert(dims.begin(), batch);
          strides.insert(strides.begin(), rows * cols);
        }
        return memory::desc(dims, kF32, strides);
      };
      const memory::desc a = desc(m, k, q[KILN_MATMUL_TRANSPOSE_A]),
                         b = desc(k, n, q[KILN_MATMUL_TRANSPOSE_B]), c = desc(m, n, false);
      if (kind == kMatMulBias) {
        const memory::desc bias({1, n}, kF32, Tag::ab);
        dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, bias, c),
                                        Epilogue(p[KILN_MATMUL_PARAMS] != 0), engine);
        kernel->primitive = dnnl::matmul(pd);
        arg(DNNL_ARG_SRC, a);
        arg(DNNL_ARG_WEIGHTS, b);
        arg(DNNL_ARG_BIAS, bias);
        arg(DNNL_ARG_DST, c);
        break;
      }
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), engine);
      kernel->primitive = dnnl::matmul(pd);
      arg(DNNL_ARG_SRC, a);
      arg(DNNL_ARG_WEIGHTS, b);
      arg(DNNL_ARG_DST, c);
      break;
    }
    case kConv2DBias: {
      const Conv d = ConvDescs(p), any = ConvDescs(p, Tag::any);
      const memory::desc bias({p[KILN_CONV_O]}, kF32, Tag::x);
      const auto pd = ConvForwardBias(any, bias, p[KILN_CONV_PARAMS] != 0, engine);
      kernel->primitive = dnnl::convolution_forward(pd);
      staged(DNNL_ARG_SRC, d.src, pd.src_desc(), false);
      staged(DNNL_ARG_WEIGHTS, d.weights, pd.weights_desc(), false);
      arg(DNNL_ARG_BIAS, bias);
      staged(DNNL_ARG_DST, d.dst, pd.dst_desc(), true);
      break;
    }
    case kConv2D: {
      // The convolutions choose their layouts (blocked ones run oneDNN's direct kernels; with plain
      // NHWC/HWIO it falls back to im2col + GEMM), and operands are reordered to and from them.
      const Conv d = ConvDescs(p), any = ConvDescs(p, Tag::any);
      const auto pd = ConvForward(any, engine);
      kernel->primitive = dnnl::convolution_forward(pd);
      staged(DNNL_ARG_SRC, d.src, pd.src_desc(), false);
      staged(DNNL_ARG_WEIGHTS, d.weights, pd.weights_desc(), false);
      staged(DNNL_ARG_DST, d.dst, pd.dst_desc(), true);
      break;
    }
    case kConv2DBackpropInput: {
      const Conv d = ConvDescs(p), any = ConvDescs(p, Tag::any);
      dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, any.src,
                                                any.weights, any.dst, any.strides, any.dilations,
                                                any.pad_l, any.pad_r),
          engine, ConvForward(any, engine));
      kernel->primitive = dnnl::convolution_backward_data(pd);
      staged(DNNL_ARG_DIFF_DST, d.dst, pd.diff_dst_desc(), false);
      staged(DNNL_ARG_WEIGHTS, d.weights, pd.weights_desc(), false);
      staged(DNNL_ARG_DIFF_SRC, d.src, pd.diff_src_desc(), true);
      break;
    }
    case kConv2DBackpropFilter: {
      const Conv d = ConvDescs(p), any = ConvDescs(p, Tag::any);
      dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct, any.src,
                                                   any.weights, any.dst, any.strides, any.dilations,
                                                   any.pad_l, any.pad_r),
          engine, ConvForward(any, engine));
      kernel->primitive = dnnl::convolution_backward_weights(pd);
      staged(DNNL_ARG_SRC, d.src, pd.src_desc(), false);
      staged(DNNL_ARG_DIFF_DST, d.dst, pd.diff_dst_desc(), false);
      staged(DNNL_ARG_DIFF_WEIGHTS, d.weights, pd.diff_weights_desc(), true);
      break;
    }
  }
  return kernel;
}

// The kernel for (kind, params), made at its first use; `state.mu` held.
Kernel& FindKernel(State& state, int kind, const int64_t* params) {
  const int n = kNumParams[kind];
  auto site = state.by_site.find(params);
  if (site != state.by_site.end() && site->second->kind == kind &&
      std::equal(params, params + n, site->second->params.begin())) {
    return *site->second;
  }
  std::unique_ptr<Kernel>& owned =
      state.kernels[std::make_pair(kind, std::vector<int64_t>(params, params + n))];
  if (!owned) owned = MakeKernel(kind, params, state.engine);
  state.by_site[params] = owned.get();
  return *owned;
}

// Runs the kernel for (kind, params) on `operands`, or (with none) only makes it; oneDNN's errors
// become the context's status.
void Run(kiln_context* context, int kind, const int64_t* params,
         std::initializer_list<const void*> operands) {
  try {
    State* found = GetState(context);
    if (found == nullptr) return;
    State& state = *found;
    std::lock_guard<std::mutex> lock(state.mu);
    Kernel& kernel = FindKernel(state, kind, params);
    if (operands.size() == 0) return;
    size_t i = 0;
    for (const void* data : operands) kernel.operands[i++].set_data_handle(const_cast<void*>(data));
    for (Stage& s : kernel.before) s.reorder.execute(state.stream, s.from, s.to);
    kernel.primitive.execute(state.stream, kernel.args);
    for (Stage& s : kernel.after) s.reorder.execute(state.stream, s.from, s.to);
    state.stream.wait();
  } catch (const dnnl::error& e) {
    const std::string message =
        std::string(kNames[kind]) + ": oneDNN error " + std::to_string(e.status) + ": " + e.what();
    kiln_context_set_error(context, KILN_INTERNAL, message.c_str());
  } catch (const std::exception& e) {
    const std::string message = std::string(kNames[kind]) + ": " + e.what();
    kiln_context_set_error(context, KILN_INTERNAL, message.c_str());
  }
}

// y[1, n] = x[1, k] · b, b [k, n] or (transposed) [n, k]: oneDNN's matmul at M = 1 runs its GEMM
// kernel on the plain weights and took 1.7x ONNX Runtime's time on the 784-512-512-10 MLP; this
// streams b once through registers. GCC vectors of 16 floats; one clone per ISA, picked at load
// time.
typedef float V16 __attribute__((vector_size(64), aligned(4)));
constexpr int64_t kLanes = 16, kColumnBlock = 64, kRowBlock = 4;
#define KILN_ISA_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

// Loads 16 floats. A macro, not a function: a function taking or returning V16 outside the clones
// would have an ABI that depends on the ISA (GCC's -Wpsabi).
#define KILN_LOAD16(p) (*reinterpret_cast<const V16*>(p))

// Columns [j0, j1) of y = x · b, b [k, n]: 64 columns at a time in four vector accumulators.
KILN_ISA_CLONES void GemvColumns(const float* x, const float* b, float* y, int64_t k, int64_t n,
                                 int64_t j0, int64_t j1) {
  int64_t j = j0;
  for (; j + kColumnBlock <= j1; j += kColumnBlock) {
    V16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    for (int64_t i = 0; i < k; ++i) {
      const float* row = b + i * n + j;
      const float xi = x[i];
      a0 += xi * KILN_LOAD16(row), a1 += xi * KILN_LOAD16(row + 16),
          a2 += xi * KILN_LOAD16(row + 32), a3 += xi * KILN_LOAD16(row + 48);
    }
    *reinterpret_cast<V16*>(y + j) = a0, *reinterpret_cast<V16*>(y + j + 16) = a1;
    *reinterpret_cast<V16*>(y + j + 32) = a2, *reinterpret_cast<V16*>(y + j + 48) = a3;
  }
  // Fewer than 64 columns left (a classifier's 10): row by row into a partial accumulator, so the
  // inner loop still runs along contiguous memory.
  if (j < j1) {
    const int64_t width = j1 - j;
    float acc[kColumnBlock] = {};
    for (int64_t i = 0; i < k; ++i) {
      const float* row = b + i * n + j;
      const float xi = x[i];
      for (int64_t c = 0; c < width; ++c) acc[c] += xi * row[c];
    }
    for (int64_t c = 0; c < width; ++c) y[j + c] = acc[c];
  }
}

// Rows [r0, r1) of y = x · bᵀ, b [n, k]: dot products, four rows sharing each load of x.
KILN_ISA_CLONES void GemvRows(const float* x, const float* b, float* y, int64_t k, int64_t r0,
                              int64_t r1) {
  auto finish = [&](const V16& acc, int64_t r, int64_t i) {
    float sum = 0;
    for (int l = 0; l < kLanes; ++l) sum += acc[l];
    for (; i < k; ++i) sum += x[i] * b[r * k + i];
    y[r] = sum;
  };
  int64_t r = r0;
  for (; r + kRowBlock <= r1; r += kRowBlock) {
    V16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
    const float* b0 = b + r * k;
    int64_t i = 0;
    for (; i + kLanes <= k; i += kLanes) {
      const V16 xv = KILN_LOAD16(x + i);
      a0 += xv * KILN_LOAD16(b0 + i), a1 += xv * KILN_LOAD16(b0 + k + i),
          a2 += xv * KILN_LOAD16(b0 + 2 * k + i);
      a3 += xv * KILN_LOAD16(b0 + 3 * k + i);
    }
    finish(a0, r, i), finish(a1, r + 1, i), finish(a2, r + 2, i), finish(a3, r + 3, i);
  }
  for (; r < r1; ++r) {
    V16 acc = {};
    int64_t i = 0;
    for (; i + kLanes <= k; i += kLanes) acc += KILN_LOAD16(x + i) * KILN_LOAD16(b + r * k + i);
    finish(acc, r, i);
  }
}

struct GemvArgs {
  const float *x, *b;
  float* y;
  int64_t k, n;
  bool transposed;
};

void Gemv(kiln_context* context, const GemvArgs& g) {
  // Tasks are column blocks (or row blocks when transposed); small products stay on this thread.
  const int64_t block = g.transposed ? kRowBlock : kColumnBlock;
  const int64_t tasks = (g.n + block - 1) / block;
  auto body = [](void* closure, int64_t begin, int64_t end) {
    const GemvArgs& g = *static_cast<const GemvArgs*>(closure);
    const int64_t block = g.transposed ? kRowBlock : kColumnBlock;
    const int64_t lo = begin * block, hi = std::min(g.n, end * block);
    if (g.transposed) {
      GemvRows(g.x, g.b, g.y, g.k, lo, hi);
    } else {
      GemvColumns(g.x, g.b, g.y, g.k, g.n, lo, hi);
    }
  };
  if (g.n * g.k < (int64_t{1} << 16)) {
    body(const_cast<GemvArgs*>(&g), 0, tasks);
  } else {
    kiln_rt_parallel_for(context, tasks, body, const_cast<GemvArgs*>(&g));
  }
}

// kiln_rt_parallel_for on OpenMP: each of the team's threads runs one contiguous chunk.
void OpenMpSchedule(void* user_data, int64_t n, kiln_parallel_body body, void* closure) {
  const int threads = static_cast<int>(reinterpret_cast<intptr_t>(user_data));
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), team = omp_get_num_threads();
    const int64_t begin = n * t / team, end = n * (t + 1) / team;
    if (begin < end) body(closure, begin, end);
  }
}

}  // namespace

extern "C" {

const kiln_symbol* kiln_dnnl_symbols(size_t* count) {
  static const kiln_symbol kSymbols[] = {
#define KILN_HOOK(hook, library, kernel, variant, operands, params) KILN_DNNL_SYMBOL_##library(hook)
#define KILN_DNNL_SYMBOL_CORE(hook)
#define KILN_DNNL_SYMBOL_CUDA(hook)
#define KILN_DNNL_SYMBOL_DNNL(hook) {#hook, reinterpret_cast<void*>(&hook)},
#include "runtime/hooks.def"
#undef KILN_DNNL_SYMBOL_CORE
#undef KILN_DNNL_SYMBOL_CUDA
#undef KILN_DNNL_SYMBOL_DNNL
  };
  *count = sizeof(kSymbols) / sizeof(kSymbols[0]);
  return kSymbols;
}

kiln_context* kiln_dnnl_context_create(int num_threads) {
  if (num_threads <= 0) num_threads = omp_get_max_threads();
  return kiln_context_create_with_scheduler(
      OpenMpSchedule, reinterpret_cast<void*>(intptr_t{num_threads}), num_threads);
}

void kiln_rt_dnnl_matmul(kiln_context* context, const int64_t* params, const float* a,
                         const float* b, float* c) {
  // params m, n, k, transpose_a, transpose_b; with one row, a is contiguous either way.
  if (params[KILN_MATMUL_M] == 1) {
    return Gemv(context, {a, b, c, params[KILN_MATMUL_K], params[KILN_MATMUL_N],
                          params[KILN_MATMUL_TRANSPOSE_B] != 0});
  }
  Run(context, kMatMul, params, {a, b, c});
}

void kiln_rt_dnnl_batch_matmul(kiln_context* context, const int64_t* params, const float* a,
                               const float* b, float* c) {
  Run(context, kBatchMatMul, params, {a, b, c});
}

void kiln_rt_dnnl_conv2d(kiln_context* context, const int64_t* params, const float* input,
                         const float* filter, float* output) {
  Run(context, kConv2D, params, {input, filter, output});
}

void kiln_rt_dnnl_conv2d_backprop_input(kiln_context* context, const int64_t* params,
                                        const float* grad, const float* filter, float* input_grad) {
  Run(context, kConv2DBackpropInput, params, {grad, filter, input_grad});
}

void kiln_rt_dnnl_conv2d_backprop_filter(kiln_context* context, const int64_t* params,
                                         const float* input, const float* grad,
                                         float* filter_grad) {
  Run(context, kConv2DBackpropFilter, params, {input, grad, filter_grad});
}

int64_t kiln_dnnl_kernels_made(kiln_context* context) {
  State* state = GetState(context);
  if (state == nullptr) return 0;
  std::lock_guard<std::mutex> lock(state->mu);
  return static_cast<int64_t>(state->kernels.size());
}

void kiln_rt_dnnl_matmul_bias(kiln_context* context, const int64_t* params, const float* a,
                              const float* b, const float* bias, float* c) {
  if (params[KILN_MATMUL_M] != 1) return Run(context, kMatMulBias, params, {a, b, bias, c});
  Gemv(context, {a, b, c, params[KILN_MATMUL_K], params[KILN_MATMUL_N],
                 params[KILN_MATMUL_TRANSPOSE_B] != 0});
  const bool relu = params[KILN_MATMUL_PARAMS] != 0;
  for (int64_t j = 0; j < params[KILN_MATMUL_N]; ++j) {
    c[j] = relu ? std::max(c[j] + bias[j], 0.0f) : c[j] + bias[j];
  }
}

void kiln_rt_dnnl_conv2d_bias(kiln_context* context, const int64_t* params, const float* input,
                              const float* filter, const float* bias, float* output) {
  Run(context, kConv2DBias, params, {input, filter, bias, output});
}

void kiln_rt_dnnl_matmul_bias_prepare(kiln_context* context, const int64_t* params) {
  if (params[KILN_MATMUL_M] != 1) Run(context, kMatMulBias, params, {});
}
void kiln_rt_dnnl_conv2d_bias_prepare(kiln_context* context, const int64_t* params) {
  Run(context, kConv2DBias, params, {});
}

void kiln_rt_dnnl_matmul_prepare(kiln_context* context, const int64_t* params) {
  if (params[KILN_MATMUL_M] != 1) Run(context, kMatMul, params, {});  // one row needs no primitive
}
void kiln_rt_dnnl_batch_matmul_prepare(kiln_context* context, const int64_t* params) {
  Run(context, kBatchMatMul, params, {});
}
void kiln_rt_dnnl_conv2d_prepare(kiln_context* context, const int64_t* params) {
  Run(context, kConv2D, params, {});
}
void kiln_rt_dnnl_conv2d_backprop_input_prepare(kiln_context* context, const int64_t* params) {
  Run(context, kConv2DBackpropInput, params, {});
}
void kiln_rt_dnnl_conv2d_backprop_filter_prepare(kiln_context* context, const int64_t* params) {
  Run(context, kConv2DBackpropFilter, params, {});
}

}  // extern "C"
