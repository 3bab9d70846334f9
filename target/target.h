// The machines Kiln compiles for, as data. A Target says where the generated code runs (LLVM
// triple, CPU and features, pointer width, whether there are threads), which library computes the
// library kernels of graph/lowering.h (oneDNN, the CUDA libraries, or none: generated loops) and
// how they are called, and for a GPU its chip and the libraries' precision. Lowering
// (passes/graph_lowering.h), the pipelines (passes/pipeline.h), the object emitter and the compiler
// driver (codegen/) read their per-target choices from it; nothing else says which target it
// compiles for.
//
// Targets are chosen by name, optionally with options: "x86_64", "x86_64-native",
// "aarch64-linux,library=none", "cuda:sm_80,precision=tf32" (ParseTarget; `kilnc targets`).
// MLIR-free, so tools and build rules can use it without the compiler.
#ifndef KILN_TARGET_TARGET_H_
#define KILN_TARGET_TARGET_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/lowering.h"

namespace kiln {

// Which library computes a target's library kernels, through the runtime's hooks.
enum class KernelLibrary {
  kNone,    // none: every op is generated code
  kOneDnn,  // oneDNN on the CPU (runtime/dnnl_kernels.h)
  kCuda,    // cuBLASLt for matmuls, cuDNN for convolutions (runtime/cuda.h)
};

// The precision of a GPU library's matmuls and convolutions: exact f32, or inputs rounded to TF32
// or bf16 on the tensor cores (f32 accumulation). The value is the hooks' precision parameter.
enum class GpuPrecision { kF32 = 0, kTf32 = 1, kBf16 = 2 };

// One hook of the runtime's table (runtime/hooks.def).
struct RuntimeHook {
  enum class Variant { kKernel, kBias, kPrepare, kSupport };
  const char* name;
  // The library whose header declares it; kNone for the core runtime's (always linked).
  KernelLibrary library;
  // The kernel it computes or plans; none for a support hook.
  std::optional<LibraryKernel> kernel;
  Variant variant;
  // A kernel's array operands after (context, params), and its parameter count (hook_params.h).
  int operands;
  int params;
};

// Every hook compiled code may call, in runtime/hooks.def's order.
const std::vector<RuntimeHook>& RuntimeHooks();

// How one library kernel is called on a target: its hooks, and what the library can and cannot do
// that the lowering must know.
struct LibraryKernelRule {
  LibraryKernel kernel;
  // The plain kernel ("kiln_rt_dnnl_matmul"); its "_prepare" twin makes the call site's plan.
  const RuntimeHook* hook = nullptr;
  // The kernel with a bias add and optional ReLU fused after it, where the library has one.
  const RuntimeHook* bias_hook = nullptr;
  // Convolutions: padding must be symmetric (top == bottom, left == right), or loops are generated.
  bool symmetric_padding_only = false;
  // Convolutions: filters are OHWI (Kiln's are HWIO), transposed around the call.
  bool ohwi_filters = false;
  // The parameters end with the target's GpuPrecision.
  bool precision_parameter = false;
};

struct Target {
  // The name it was chosen by ("x86_64", "cuda:sm_90"), without options.
  std::string name;
  // LLVM's view of the machine running the (host) code.
  std::string triple;
  std::string cpu;
  // LLVM feature flags ("+simd128"); empty means the CPU's own.
  std::string features;
  // Floats passed in FPU registers (ARM's hard-float ABI, as the triple's "eabihf" says; LLVM's
  // backend needs it stated).
  bool hard_float_abi = false;
  int pointer_bits = 64;
  // The runtime has a thread pool: large loops are split over it (kiln-parallelize).
  bool threads = true;
  KernelLibrary library = KernelLibrary::kNone;
  // An NVIDIA GPU target's chip ("sm_90"); empty for a CPU target. The object is then host code for
  // `triple` that launches the kernels through the runtime (runtime/cuda.h).
  std::string gpu_chip;
  GpuPrecision gpu_precision = GpuPrecision::kF32;

  bool is_gpu() const { return !gpu_chip.empty(); }
  // How `kernel` is called through the target's library; nullptr when it is generated code.
  const LibraryKernelRule* LibraryRule(LibraryKernel kernel) const;
  // The spec that chooses this target again (name plus the options that differ from the name's).
  std::string Spec() const;
  // One line: "x86_64-unknown-linux-gnu, cpu x86-64-v3, 64-bit, threads, oneDNN".
  std::string Describe() const;
};

// The target a spec names: NAME[,OPTION=VALUE]..., NAME from NamedTargets() ("cuda" alone is
// cuda:sm_90), options cpu=C, features=F, library=none (generated loops for every op) and, for a
// GPU, precision=f32|tf32|bf16. InvalidArgument naming the unknown name or option, and listing
// the names.
absl::StatusOr<Target> ParseTarget(const std::string& spec);

// The portable default, "x86_64".
Target DefaultTarget();

// The named targets, in the order `kilnc targets` lists them; "cuda:sm_90" stands for any chip.
std::vector<Target> NamedTargets();

// The name of a kernel library as users see it ("oneDNN", "cuBLASLt/cuDNN", "none").
const char* KernelLibraryName(KernelLibrary library);

}  // namespace kiln

#endif  // KILN_TARGET_TARGET_H_
