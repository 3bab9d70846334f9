// runtime/cuda_library_abi.h against the CUDA toolkit's own headers: a file that static_asserts
// each enumerator and size is compiled with them (the runtime itself builds without them).
#include <cstdlib>
#include <string>

#include "catch2/catch.hpp"
#include "testing/temp_files.h"

namespace {

constexpr char kCheck[] = R"(
#include <cublasLt.h>
#include <cudnn.h>
#include <library_types.h>
#include "runtime/cuda_library_abi.h"
using namespace kiln::cuda_abi;
static_assert(kBlasSuccess == CUBLAS_STATUS_SUCCESS);
static_assert(kR32F == CUDA_R_32F);
static_assert(kCompute32F == CUBLAS_COMPUTE_32F);
static_assert(kCompute32FFastTf32 == CUBLAS_COMPUTE_32F_FAST_TF32);
static_assert(kCompute32FFast16BF == CUBLAS_COMPUTE_32F_FAST_16BF);
static_assert(kOpN == CUBLAS_OP_N && kOpT == CUBLAS_OP_T);
static_assert(kDescTransA == CUBLASLT_MATMUL_DESC_TRANSA && kDescTransB == CUBLASLT_MATMUL_DESC_TRANSB);
static_assert(kDescEpilogue == CUBLASLT_MATMUL_DESC_EPILOGUE);
static_assert(kDescBiasPointer == CUBLASLT_MATMUL_DESC_BIAS_POINTER);
static_assert(kEpilogueDefault == CUBLASLT_EPILOGUE_DEFAULT);
static_assert(kEpilogueBias == CUBLASLT_EPILOGUE_BIAS && kEpilogueReluBias == CUBLASLT_EPILOGUE_RELU_BIAS);
static_assert(kLayoutBatchCount == CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT);
static_assert(kLayoutStridedBatchOffset == CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET);
static_assert(kPrefMaxWorkspaceBytes == CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES);
static_assert(kAlgoBytes == sizeof(cublasLtMatmulAlgo_t));
static_assert(kHeuristicResultBytes == sizeof(cublasLtMatmulHeuristicResult_t));
static_assert(kDnnSuccess == CUDNN_STATUS_SUCCESS && kDnnFloat == CUDNN_DATA_FLOAT);
static_assert(kDnnNhwc == CUDNN_TENSOR_NHWC && kDnnCrossCorrelation == CUDNN_CROSS_CORRELATION);
static_assert(kDnnDefaultMath == CUDNN_DEFAULT_MATH && kDnnFmaMath == CUDNN_FMA_MATH);
static_assert(kDnnAlgoPerfBytes == sizeof(cudnnConvolutionFwdAlgoPerf_t));
static_assert(kDnnAlgoPerfBytes == sizeof(cudnnConvolutionBwdDataAlgoPerf_t));
static_assert(kDnnAlgoPerfBytes == sizeof(cudnnConvolutionBwdFilterAlgoPerf_t));
static_assert(sizeof(cudnnConvolutionFwdAlgo_t) == sizeof(int) && sizeof(cudnnMathType_t) == sizeof(int));
// The attribute value types the runtime passes.
static_assert(sizeof(cublasOperation_t) == sizeof(int) && sizeof(cublasLtEpilogue_t) == sizeof(int));
)";

TEST_CASE("The cuBLASLt and cuDNN enumerators Kiln declares match the toolkit's headers") {
  const std::string path = kiln::testing::TempPath("cuda_library_abi_check.cc");
  kiln::testing::WriteFile(path, kCheck);
  const std::string command =
      "c++ -std=c++17 -fsyntax-only -I/usr/local/cuda/include -I. " + path + " 2>&1";
  INFO(command);
  REQUIRE(std::system(command.c_str()) == 0);
}

}  // namespace
