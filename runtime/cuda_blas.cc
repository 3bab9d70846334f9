// cuBLASLt behind the CUDA target's matmul hooks (runtime/cuda.h), opened at run time like the
// driver. Kiln's arrays are row-major and cuBLASLt's column-major, so each call computes the
// transposed product with the operands swapped: row-major C[m,n] = op(A)·op(B) is column-major
// Cᵀ[n,m] = op(B)ᵀ·op(A)ᵀ, whose operands are the same memory read column-major. A bias per column
// of C is then one per row of Cᵀ, which is what CUBLASLT_EPILOGUE_BIAS adds.
#include <dlfcn.h>

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

struct Algo {
  uint64_t data[8];
};
struct HeuristicResult {  // cublasLtMatmulHeuristicResult_t
  Algo algo;
  size_t workspace_size;
  Status state;
  float waves_count;
  int reserved[4];
};
static_assert(sizeof(Algo) == kAlgoBytes && sizeof(HeuristicResult) == kHeuristicResultBytes);

struct Api {
  Status (*cublasLtCreate)(Handle*);
  Status (*cublasLtDestroy)(Handle);
  const char* (*cublasLtGetStatusName)(Status);
  Status (*cublasLtMatmulDescCreate)(Handle*, int, int);
  Status (*cublasLtMatmulDescDestroy)(Handle);
  Status (*cublasLtMatmulDescSetAttribute)(Handle, int, const void*, size_t);
  Status (*cublasLtMatrixLayoutCreate)(Handle*, int, uint64_t, uint64_t, int64_t);
  Status (*cublasLtMatrixLayoutDestroy)(Handle);
  Status (*cublasLtMatrixLayoutSetAttribute)(Handle, int, const void*, size_t);
  Status (*cublasLtMatmulPreferenceCreate)(Handle*);
  Status (*cublasLtMatmulPreferenceDestroy)(Handle);
  Status (*cublasLtMatmulPreferenceSetAttribute)(Handle, int, const void*, size_t);
  Status (*cublasLtMatmulAlgoGetHeuristic)(Handle, Handle, Handle, Handle, Handle, Handle, Handle,
                                           int, HeuristicResult*, int*);
  Status (*cublasLtMatmul)(Handle, Handle, const void*, const void*, Handle, const void*, Handle,
                           const void*, const void*, Handle, void*, Handle, const Algo*, void*,
                           size_t, Handle);
};

// One call site's parameters made into cuBLASLt objects once.
struct Plan {
  Handle desc = nullptr, a = nullptr, b = nullptr, c = nullptr;
  Algo algo{};
  size_t workspace = 0;
  std::string what;  // "MatMul 128x512x784", for errors
};

struct Blas {
  void* library = nullptr;
  Api api{};
  Handle handle = nullptr;
  CUdeviceptr workspace = 0;
  const Driver* driver = nullptr;
  PlanCache<Plan> plans;

  void Destroy(const Plan& p) {
    for (Handle layout : {p.a, p.b, p.c}) {
      if (layout != nullptr) api.cublasLtMatrixLayoutDestroy(layout);
    }
    if (p.desc != nullptr) api.cublasLtMatmulDescDestroy(p.desc);
  }

  ~Blas() {
    plans.ForEach([&](const Plan& p) { Destroy(p); });
    if (handle != nullptr) api.cublasLtDestroy(handle);
    if (workspace != 0) driver->cuMemFree(workspace);
    if (library != nullptr) dlclose(library);
  }
};

bool BlasCheck(kiln_context* context, const Blas& b, Status r, const char* call,
               const std::string& what) {
  return r == kBlasSuccess ||
         LibraryError(
             context, call, what,
             b.api.cublasLtGetStatusName != nullptr ? b.api.cublasLtGetStatusName(r) : nullptr,
             "cuBLAS", r);
}

// The context's cuBLASLt, opened with a handle and a workspace at its first use; null with the
// status set (UNAVAILABLE naming what was tried) when it cannot be.
Blas* GetBlas(kiln_context* context, State& s) {
  if (s.blas != nullptr) return static_cast<Blas*>(s.blas.get());
  auto b = std::make_shared<Blas>();
  b->driver = &s.driver;
  // $KILN_CUBLASLT, then the CUDA 13 and 12 sonames, then the toolkit's own directory (not always
  // on the loader's path).
  b->library = OpenLibrary(
      context, "KILN_CUBLASLT",
      {"libcublasLt.so.13", "libcublasLt.so.12", "/usr/local/cuda/lib64/libcublasLt.so.13",
       "/usr/local/cuda/lib64/libcublasLt.so.12"},
      "cuBLASLt (for matmuls on the GPU)");
  if (b->library == nullptr) return nullptr;
  const std::string what = "cuBLASLt";
  Api& a = b->api;
  if (!LookUp(context, b->library, what, "cublasLtCreate", a.cublasLtCreate) ||
      !LookUp(context, b->library, what, "cublasLtDestroy", a.cublasLtDestroy) ||
      !LookUp(context, b->library, what, "cublasLtGetStatusName", a.cublasLtGetStatusName) ||
      !LookUp(context, b->library, what, "cublasLtMatmulDescCreate", a.cublasLtMatmulDescCreate) ||
      !LookUp(context, b->library, what, "cublasLtMatmulDescDestroy",
              a.cublasLtMatmulDescDestroy) ||
      !LookUp(context, b->library, what, "cublasLtMatmulDescSetAttribute",
              a.cublasLtMatmulDescSetAttribute) ||
      !LookUp(context, b->library, what, "cublasLtMatrixLayoutCreate",
              a.cublasLtMatrixLayoutCreate) ||
      !LookUp(context, b->library, what, "cublasLtMatrixLayoutDestroy",
              a.cublasLtMatrixLayoutDestroy) ||
      !LookUp(context, b->library, what, "cublasLtMatrixLayoutSetAttribute",
              a.cublasLtMatrixLayoutSetAttribute) ||
      !LookUp(context, b->library, what, "cublasLtMatmulPreferenceCreate",
              a.cublasLtMatmulPreferenceCreate) ||
      !LookUp(context, b->library, what, "cublasLtMatmulPreferenceDestroy",
              a.cublasLtMatmulPreferenceDestroy) ||
      !LookUp(context, b->library, what, "cublasLtMatmulPreferenceSetAttribute",
              a.cublasLtMatmulPreferenceSetAttribute) ||
      !LookUp(context, b->library, what, "cublasLtMatmulAlgoGetHeuristic",
              a.cublasLtMatmulAlgoGetHeuristic) ||
      !LookUp(context, b->library, what, "cublasLtMatmul", a.cublasLtMatmul)) {
    return nullptr;
  }
  if (!BlasCheck(context, *b, a.cublasLtCreate(&b->handle), "cublasLtCreate", "the context"))
    return nullptr;
  if (!Check(context, s, s.driver.cuMemAlloc(&b->workspace, kWorkspaceBytes),
             "cuMemAlloc (cuBLASLt workspace)")) {
    return nullptr;
  }
  s.blas = b;
  return b.get();
}

// The kinds of call, first in a plan's key, and how many parameters each takes.
enum Kind : int64_t { kMatMul, kMatMulBias, kBatchMatMul };
constexpr int kNumParams[] = {6, 7, 7};

// The plan for a call site on `s` (Ready): made at its prepare (or first call), then reused.
// params as runtime/cuda.h documents them.
Plan* GetPlan(kiln_context* context, State& s, Kind kind, const int64_t* params) {
  std::lock_guard<std::mutex> lock(s.mu);
  Blas* b = GetBlas(context, s);
  if (b == nullptr) return nullptr;
  if (Plan* found = b->plans.Find(kind, params, kNumParams[kind])) return found;
  const bool batched = kind == kBatchMatMul, bias = kind == kMatMulBias;
  const int64_t* p = batched ? params + 1 : params;  // a matmul's params after the batch count
  const int64_t batch = batched ? params[0] : 1, m = p[KILN_MATMUL_M], n = p[KILN_MATMUL_N],
                k = p[KILN_MATMUL_K];
  const bool ta = p[KILN_MATMUL_TRANSPOSE_A] != 0, tb = p[KILN_MATMUL_TRANSPOSE_B] != 0;
  // Then relu (a _bias hook), then the precision.
  const int64_t relu = bias ? p[KILN_MATMUL_PARAMS] : 0,
                precision = p[KILN_MATMUL_PARAMS + (bias ? 1 : 0)];

  Plan plan;
  DiscardUnlessKept<Blas, Plan> discard{b, &plan};
  plan.what = (batched ? "BatchMatMul " + std::to_string(batch) + "x" : std::string("MatMul ")) +
              std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k);
  const Api& a = b->api;
  const int compute = precision == 1   ? kCompute32FFastTf32
                      : precision == 2 ? kCompute32FFast16BF
                                       : kCompute32F;
  // Column-major Cᵀ[n,m] = op(B')·op(A'), where B' (cuBLASLt's A) is b's memory and A' (its B) is
  // a's.
  const int op_a = tb ? kOpT : kOpN, op_b = ta ? kOpT : kOpN;
  const uint64_t a_rows = tb ? k : n, a_cols = tb ? n : k;  // b's memory, column-major
  const uint64_t b_rows = ta ? m : k, b_cols = ta ? k : m;  // a's memory, column-major
  auto fail = [&](Status r, const char* call) {
    return !BlasCheck(context, *b, r, call, plan.what);
  };
  auto batch_layout = [&](Handle layout, int64_t stride) {
    const int32_t count = static_cast<int32_t>(batch);
    const Status r =
        a.cublasLtMatrixLayoutSetAttribute(layout, kLayoutBatchCount, &count, sizeof count);
    return r != kBlasSuccess ? r
                             : a.cublasLtMatrixLayoutSetAttribute(layout, kLayoutStridedBatchOffset,
                                                                  &stride, sizeof stride);
  };
  const int epilogue = bias ? (relu ? kEpilogueReluBias : kEpilogueBias) : kEpilogueDefault;
  if (fail(a.cublasLtMatmulDescCreate(&plan.desc, compute, kR32F), "cublasLtMatmulDescCreate") ||
      fail(a.cublasLtMatmulDescSetAttribute(plan.desc, kDescTransA, &op_a, sizeof op_a),
           "cublasLtMatmulDescSetAttribute") ||
      fail(a.cublasLtMatmulDescSetAttribute(plan.desc, kDescTransB, &op_b, sizeof op_b),
           "cublasLtMatmulDescSetAttribute") ||
      fail(a.cublasLtMatmulDescSetAttribute(plan.desc, kDescEpilogue, &epilogue, sizeof epilogue),
           "cublasLtMatmulDescSetAttribute") ||
      fail(a.cublasLtMatrixLayoutCreate(&plan.a, kR32F, a_rows, a_cols,
                                        static_cast<int64_t>(a_rows)),
           "cublasLtMatrixLayoutCreate") ||
      fail(a.cublasLtMatrixLayoutCreate(&plan.b, kR32F, b_rows, b_cols,
                                        static_cast<int64_t>(b_rows)),
           "cublasLtMatrixLayoutCreate") ||
      fail(a.cublasLtMatrixLayoutCreate(&plan.c, kR32F, n, m, n), "cublasLtMatrixLayoutCreate") ||
      (batched && (fail(batch_layout(plan.a, k * n), "cublasLtMatrixLayoutSetAttribute") ||
                   fail(batch_layout(plan.b, m * k), "cublasLtMatrixLayoutSetAttribute") ||
                   fail(batch_layout(plan.c, m * n), "cublasLtMatrixLayoutSetAttribute")))) {
    return nullptr;
  }
  Handle preference = nullptr;
  const uint64_t workspace = kWorkspaceBytes;
  HeuristicResult result{};
  int returned = 0;
  const bool ok =
      !fail(a.cublasLtMatmulPreferenceCreate(&preference), "cublasLtMatmulPreferenceCreate") &&
      !fail(a.cublasLtMatmulPreferenceSetAttribute(preference, kPrefMaxWorkspaceBytes, &workspace,
                                                   sizeof workspace),
            "cublasLtMatmulPreferenceSetAttribute") &&
      !fail(a.cublasLtMatmulAlgoGetHeuristic(b->handle, plan.desc, plan.a, plan.b, plan.c, plan.c,
                                             preference, 1, &result, &returned),
            "cublasLtMatmulAlgoGetHeuristic");
  if (preference != nullptr) a.cublasLtMatmulPreferenceDestroy(preference);
  if (!ok) return nullptr;
  if (returned < 1) {
    kiln_context_set_error(
        context, KILN_INTERNAL,
        ("cublasLtMatmulAlgoGetHeuristic for " + plan.what + ": no algorithm").c_str());
    return nullptr;
  }
  plan.algo = result.algo;
  plan.workspace = result.workspace_size;
  discard.plan = nullptr;
  return b->plans.Add(kind, params, kNumParams[kind], std::move(plan));
}

void Prepare(kiln_context* context, Kind kind, const int64_t* params) {
  if (State* s = Ready(context)) GetPlan(context, *s, kind, params);
}

void Matmul(kiln_context* context, Kind kind, const int64_t* params, const float* a, const float* b,
            const float* bias, float* c) {
  State* state = Ready(context);
  Plan* plan = state != nullptr ? GetPlan(context, *state, kind, params) : nullptr;
  if (plan == nullptr) return;
  State& s = *state;
  Blas& blas = *static_cast<Blas*>(s.blas.get());
  const float one = 1, zero = 0;
  if (bias != nullptr && !BlasCheck(context, blas,
                                    blas.api.cublasLtMatmulDescSetAttribute(
                                        plan->desc, kDescBiasPointer, &bias, sizeof bias),
                                    "cublasLtMatmulDescSetAttribute", plan->what)) {
    return;
  }
  BlasCheck(
      context, blas,
      blas.api.cublasLtMatmul(blas.handle, plan->desc, &one, b, plan->a, a, plan->b, &zero, c,
                              plan->c, c, plan->c, &plan->algo,
                              reinterpret_cast<void*>(blas.workspace), plan->workspace, s.stream),
      "cublasLtMatmul", plan->what);
}

}  // namespace
}  // namespace cuda_internal
}  // namespace kiln

using kiln::cuda_internal::Matmul;
using kiln::cuda_internal::Prepare;

extern "C" {

void kiln_rt_cuda_matmul(kiln_context* context, const int64_t* params, const float* a,
                         const float* b, float* c) {
  Matmul(context, kiln::cuda_internal::kMatMul, params, a, b, nullptr, c);
}
void kiln_rt_cuda_matmul_bias(kiln_context* context, const int64_t* params, const float* a,
                              const float* b, const float* bias, float* c) {
  Matmul(context, kiln::cuda_internal::kMatMulBias, params, a, b, bias, c);
}
void kiln_rt_cuda_batch_matmul(kiln_context* context, const int64_t* params, const float* a,
                               const float* b, float* c) {
  Matmul(context, kiln::cuda_internal::kBatchMatMul, params, a, b, nullptr, c);
}
void kiln_rt_cuda_matmul_prepare(kiln_context* context, const int64_t* params) {
  Prepare(context, kiln::cuda_internal::kMatMul, params);
}
void kiln_rt_cuda_matmul_bias_prepare(kiln_context* context, const int64_t* params) {
  Prepare(context, kiln::cuda_internal::kMatMulBias, params);
}
void kiln_rt_cuda_batch_matmul_prepare(kiln_context* context, const int64_t* params) {
  Prepare(context, kiln::cuda_internal::kBatchMatMul, params);
}

}  // extern "C"
