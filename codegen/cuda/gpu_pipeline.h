// Kiln's NVIDIA GPU kernel pipeline: the CPU pipeline's fusion, bufferization and memory plan, then
// every loop nest becomes a CUDA kernel in PTX (MLIR's gpu and NVVM dialects, LLVM's NVPTX
// backend). First slices of the CUDA target (docs/gpu/research.md has the design): kernels, and
// host code that launches them through the runtime (runtime/cuda.h); not yet: cuBLASLt/cuDNN calls,
// CUDA graphs.
#ifndef KILN_CODEGEN_CUDA_GPU_PIPELINE_H_
#define KILN_CODEGEN_CUDA_GPU_PIPELINE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "passes/pipeline.h"

namespace mlir {
class DialectRegistry;
class ModuleOp;
}  // namespace mlir

namespace kiln {

struct GpuOptions {
  // The CUDA toolkit: libdevice (erf, exp, ... in kernels) and ptxas.
  std::string toolkit = "/usr/local/cuda";
  // Threads per block; each kernel runs one thread per element of its (collapsed) parallel loops.
  int64_t block_size = 256;
  // Where the toolkit's ptxas is, the module embeds each kernel as a cubin for `chip` (ptxas -O3),
  // which the driver loads as is; otherwise as PTX, which the driver compiles when it loads it.
  bool cubin = true;
};

struct GpuKernel {
  std::string name;  // the gpu.binary holding it
  std::string ptx;
};

// The dialects, interfaces and translations the GPU pipeline needs, beyond RegisterDialects'.
void RegisterGpuDialects(mlir::DialectRegistry& registry);

// Compiles `module` (LowerGraph's output for `target`) for `target`'s NVIDIA GPU and returns
// each kernel's PTX. Fails with the op and its location when something would stay on the host that
// only a kernel may do (a loop, a load or store, a copy, a call), e.g. run-time index checks, which
// call the runtime and have no device form yet.
absl::StatusOr<std::vector<GpuKernel>> CompileTensorsToPtx(mlir::ModuleOp module,
                                                           const Target& target,
                                                           const GpuOptions& gpu = {},
                                                           PipelineOptions options = {});

// Then the host side of a module CompileTensorsToPtx compiled: each launch becomes a call of the
// runtime's kiln_rt_cuda_launch (runtime/cuda.h) with the kernel's PTX embedded as a constant, and
// the host functions are lowered to the LLVM dialect like the CPU pipeline's. Their arguments are
// then device addresses (inputs, variables, outputs and the arena), plus the CUDA context.
absl::Status LowerGpuHostToLlvmDialect(mlir::ModuleOp module, const PipelineOptions& options = {});

}  // namespace kiln

#endif  // KILN_CODEGEN_CUDA_GPU_PIPELINE_H_
