// A stand-in for libcublasLt so that runtime/cuda_blas.cc is tested on machines without a GPU, with
// the fake driver (device memory is host memory). It computes what cuBLASLt's documentation
// defines, on the host: D = op(A)·op(B) (+ bias per row of D, then ReLU, with those epilogues) for
// column-major layouts, batched by the layouts' batch count and strides. A heuristic query for
// k = 3333 finds no algorithm, and a compute type other than the f32 ones is NOT_SUPPORTED, so
// tests see both errors. Counters let tests see what the runtime made.
#include <cstdint>
#include <cstring>

namespace {

using Status = int;
constexpr Status kSuccess = 0, kNotSupported = 15, kInvalidValue = 7;
int handles = 0, heuristics = 0, matmuls = 0, last_compute = 0;

struct Desc {
  int compute = 0, trans_a = 0, trans_b = 0, epilogue = 1;
  const float* bias = nullptr;
};
struct Layout {
  uint64_t rows, cols;
  int64_t ld, stride = 0;
  int32_t batch = 1;
};
struct Algo {
  uint64_t data[8];
};
struct HeuristicResult {
  Algo algo;
  size_t workspace_size;
  Status state;
  float waves_count;
  int reserved[4];
};

template <typename T>
Status Set(T* field, const void* buf, size_t size) {
  if (size != sizeof(T)) return kInvalidValue;
  std::memcpy(field, buf, size);
  return kSuccess;
}

}  // namespace

extern "C" {

Status cublasLtCreate(void** handle) {
  ++handles;
  *handle = &handles;
  return kSuccess;
}
Status cublasLtDestroy(void*) {
  --handles;
  return kSuccess;
}
const char* cublasLtGetStatusName(Status s) {
  return s == kNotSupported   ? "CUBLAS_STATUS_NOT_SUPPORTED"
         : s == kInvalidValue ? "CUBLAS_STATUS_INVALID_VALUE"
                              : "?";
}
Status cublasLtMatmulDescCreate(void** desc, int compute, int scale_type) {
  if (scale_type != 0) return kInvalidValue;  // CUDA_R_32F
  if (compute != 68 && compute != 69 && compute != 75 && compute != 77) return kNotSupported;
  *desc = new Desc{compute};
  return kSuccess;
}
Status cublasLtMatmulDescDestroy(void* desc) {
  delete static_cast<Desc*>(desc);
  return kSuccess;
}
Status cublasLtMatmulDescSetAttribute(void* desc, int attribute, const void* buf, size_t size) {
  Desc* d = static_cast<Desc*>(desc);
  switch (attribute) {
    case 3: return Set(&d->trans_a, buf, size);
    case 4: return Set(&d->trans_b, buf, size);
    case 7: return Set(&d->epilogue, buf, size);
    case 8: return Set(&d->bias, buf, size);
    default: return kInvalidValue;
  }
}
Status cublasLtMatrixLayoutCreate(void** layout, int type, uint64_t rows, uint64_t cols,
                                  int64_t ld) {
  if (type != 0 || ld < static_cast<int64_t>(rows)) return kInvalidValue;
  *layout = new Layout{rows, cols, ld};
  return kSuccess;
}
Status cublasLtMatrixLayoutDestroy(void* layout) {
  delete static_cast<Layout*>(layout);
  return kSuccess;
}
Status cublasLtMatrixLayoutSetAttribute(void* layout, int attribute, const void* buf, size_t size) {
  Layout* l = static_cast<Layout*>(layout);
  if (attribute == 5) return Set(&l->batch, buf, size);
  if (attribute == 6) return Set(&l->stride, buf, size);
  return kInvalidValue;
}
Status cublasLtMatmulPreferenceCreate(void** preference) {
  *preference = new uint64_t(0);
  return kSuccess;
}
Status cublasLtMatmulPreferenceDestroy(void* preference) {
  delete static_cast<uint64_t*>(preference);
  return kSuccess;
}
Status cublasLtMatmulPreferenceSetAttribute(void* preference, int attribute, const void* buf,
                                            size_t size) {
  if (attribute != 1) return kInvalidValue;
  return Set(static_cast<uint64_t*>(preference), buf, size);
}
Status cublasLtMatmulAlgoGetHeuristic(void*, void* desc, void* a, void* b, void* c, void*, void*,
                                      int requested, HeuristicResult* results, int* returned) {
  ++heuristics;
  const Desc* d = static_cast<Desc*>(desc);
  const Layout* la = static_cast<Layout*>(a);
  const uint64_t k = d->trans_a ? la->rows : la->cols;
  *returned = k == 3333 || requested < 1 ? 0 : 1;
  if (*returned == 1) {
    results[0] = HeuristicResult{};
    results[0].algo.data[0] = 42;
    results[0].workspace_size = 1024;
  }
  (void)b, (void)c;
  return kSuccess;
}
Status cublasLtMatmul(void*, void* desc, const void* alpha, const void* a, void* a_layout,
                      const void* b, void* b_layout, const void* beta, const void*, void*, void* d,
                      void* d_layout, const Algo* algo, void*, size_t, void*) {
  ++matmuls;
  const Desc& op = *static_cast<Desc*>(desc);
  last_compute = op.compute;
  const Layout& la = *static_cast<Layout*>(a_layout);
  const Layout& lb = *static_cast<Layout*>(b_layout);
  const Layout& ld = *static_cast<Layout*>(d_layout);
  if (algo == nullptr || algo->data[0] != 42) return kInvalidValue;
  const float al = *static_cast<const float*>(alpha), be = *static_cast<const float*>(beta);
  const uint64_t m = ld.rows, n = ld.cols, k = op.trans_a ? la.rows : la.cols;
  if ((op.trans_a ? la.cols : la.rows) != m || (op.trans_b ? lb.cols : lb.rows) != k ||
      (op.trans_b ? lb.rows : lb.cols) != n || la.batch != ld.batch || lb.batch != ld.batch) {
    return kInvalidValue;
  }
  for (int32_t batch = 0; batch < ld.batch; ++batch) {
    const float* A = static_cast<const float*>(a) + batch * la.stride;
    const float* B = static_cast<const float*>(b) + batch * lb.stride;
    float* D = static_cast<float*>(d) + batch * ld.stride;
    for (uint64_t j = 0; j < n; ++j) {
      for (uint64_t i = 0; i < m; ++i) {
        double sum = 0;
        for (uint64_t p = 0; p < k; ++p) {
          const float x = op.trans_a ? A[p + i * la.ld] : A[i + p * la.ld];
          const float y = op.trans_b ? B[j + p * lb.ld] : B[p + j * lb.ld];
          sum += static_cast<double>(x) * y;
        }
        float v = static_cast<float>(al * sum + (be != 0 ? be * D[i + j * ld.ld] : 0));
        if (op.epilogue == 4 || op.epilogue == 6) v += op.bias[i];
        if (op.epilogue == 6 && v < 0) v = 0;
        D[i + j * ld.ld] = v;
      }
    }
  }
  return kSuccess;
}

// For tests.
int fake_cublaslt_handles() { return handles; }
int fake_cublaslt_heuristics() { return heuristics; }
int fake_cublaslt_matmuls() { return matmuls; }
int fake_cublaslt_last_compute() { return last_compute; }

}  // extern "C"
