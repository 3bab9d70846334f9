// The enumerators of cuBLASLt and cuDNN the CUDA runtime uses, declared here so
// that it builds without the CUDA headers. //runtime:cuda_library_abi_test checks each against the
// installed headers where the toolkit is present.
#ifndef KILN_RUNTIME_CUDA_LIBRARY_ABI_H_
#define KILN_RUNTIME_CUDA_LIBRARY_ABI_H_

#include <cstddef>

namespace kiln {
namespace cuda_abi {

using Status = int;                              // cublasStatus_t
constexpr Status kBlasSuccess = 0;               // CUBLAS_STATUS_SUCCESS
constexpr int kR32F = 0;                         // CUDA_R_32F
constexpr int kCompute32F = 68;                  // CUBLAS_COMPUTE_32F
constexpr int kCompute32FFastTf32 = 77;          // CUBLAS_COMPUTE_32F_FAST_TF32
constexpr int kCompute32FFast16BF = 75;          // CUBLAS_COMPUTE_32F_FAST_16BF
constexpr int kOpN = 0, kOpT = 1;                // CUBLAS_OP_N, CUBLAS_OP_T
constexpr int kDescTransA = 3, kDescTransB = 4;  // CUBLASLT_MATMUL_DESC_TRANSA, _TRANSB
constexpr int kDescEpilogue = 7,
              kDescBiasPointer = 8;  // CUBLASLT_MATMUL_DESC_EPILOGUE, _BIAS_POINTER
constexpr int kEpilogueDefault = 1;  // CUBLASLT_EPILOGUE_DEFAULT
constexpr int kEpilogueBias = 4, kEpilogueReluBias = 6;  // CUBLASLT_EPILOGUE_BIAS, _RELU_BIAS
constexpr int kLayoutBatchCount = 5;                     // CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT
constexpr int kLayoutStridedBatchOffset = 6;          // CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET
constexpr int kPrefMaxWorkspaceBytes = 1;             // CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES
constexpr size_t kAlgoBytes = 64;                     // sizeof(cublasLtMatmulAlgo_t)
constexpr size_t kHeuristicResultBytes = 96;          // sizeof(cublasLtMatmulHeuristicResult_t)
constexpr size_t kWorkspaceBytes = size_t{32} << 20;  // cuBLAS's own default on Hopper

// cuDNN 9 (cudnn_graph_v9.h, cudnn_cnn_v9.h).
constexpr int kDnnSuccess = 0;                       // CUDNN_STATUS_SUCCESS
constexpr int kDnnFloat = 0;                         // CUDNN_DATA_FLOAT
constexpr int kDnnNhwc = 1;                          // CUDNN_TENSOR_NHWC (filters: KRSC, i.e. OHWI)
constexpr int kDnnCrossCorrelation = 1;              // CUDNN_CROSS_CORRELATION
constexpr int kDnnDefaultMath = 0, kDnnFmaMath = 3;  // CUDNN_DEFAULT_MATH, CUDNN_FMA_MATH
constexpr size_t kDnnAlgoPerfBytes = 48;             // sizeof(cudnnConvolution*AlgoPerf_t)

}  // namespace cuda_abi
}  // namespace kiln

#endif  // KILN_RUNTIME_CUDA_LIBRARY_ABI_H_
