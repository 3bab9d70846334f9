#include "target/target.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "runtime/hook_params.h"

namespace kiln {
namespace {

// How each library's kernels are called: their hooks from the runtime's table, and what the
// library's own conventions ask of the lowering. cuDNN's descriptors hold one padding per dimension
// (symmetric) and its filters are OHWI; the CUDA hooks end their parameters with the precision.
std::vector<LibraryKernelRule> MakeRules(KernelLibrary library) {
  std::vector<LibraryKernelRule> rules;
  if (library == KernelLibrary::kNone) return rules;
  const bool cuda = library == KernelLibrary::kCuda;
  for (const RuntimeHook& hook : RuntimeHooks()) {
    if (hook.library != library || !hook.kernel || hook.variant != RuntimeHook::Variant::kKernel)
      continue;
    const LibraryKernel kernel = *hook.kernel;
    const bool conv = kernel == LibraryKernel::kConv2D ||
                      kernel == LibraryKernel::kConv2DBackpropInput ||
                      kernel == LibraryKernel::kConv2DBackpropFilter;
    LibraryKernelRule rule{kernel, &hook};
    for (const RuntimeHook& bias : RuntimeHooks()) {
      if (bias.library == library && bias.kernel == kernel &&
          bias.variant == RuntimeHook::Variant::kBias) {
        rule.bias_hook = &bias;
      }
    }
    rule.symmetric_padding_only = cuda && conv;
    rule.ohwi_filters = cuda && conv;
    rule.precision_parameter = cuda;
    rules.push_back(rule);
  }
  return rules;
}

const std::vector<LibraryKernelRule>& Rules(KernelLibrary library) {
  static const auto* const kOneDnn =
      new std::vector<LibraryKernelRule>(MakeRules(KernelLibrary::kOneDnn));
  static const auto* const kCuda =
      new std::vector<LibraryKernelRule>(MakeRules(KernelLibrary::kCuda));
  static const auto* const kNone = new std::vector<LibraryKernelRule>();
  switch (library) {
    case KernelLibrary::kOneDnn: return *kOneDnn;
    case KernelLibrary::kCuda: return *kCuda;
    case KernelLibrary::kNone: break;
  }
  return *kNone;
}

Target Cpu(std::string name, std::string triple, std::string cpu, std::string features,
           int pointer_bits, bool threads, KernelLibrary library) {
  Target t;
  t.name = std::move(name);
  t.triple = std::move(triple);
  t.cpu = std::move(cpu);
  t.features = std::move(features);
  t.pointer_bits = pointer_bits;
  t.threads = threads;
  t.library = library;
  return t;
}

// Cortex-M4F microcontrollers: Thumb-2, single-precision FPU, hard-float ABI, no threads.
Target CortexM4() {
  Target t =
      Cpu("cortex-m4", "thumbv7em-none-eabihf", "cortex-m4", "", 32, false, KernelLibrary::kNone);
  t.hard_float_abi = true;
  return t;
}

constexpr char kDefaultChip[] = "sm_90";

// The CUDA target for `chip`: host code for x86-64 (the GPU machines' CPUs have AVX2).
Target Cuda(std::string chip) {
  Target t = Cpu(absl::StrCat("cuda:", chip), "x86_64-unknown-linux-gnu", "x86-64-v3", "", 64, true,
                 KernelLibrary::kCuda);
  t.gpu_chip = std::move(chip);
  return t;
}

const char* PrecisionName(GpuPrecision p) {
  switch (p) {
    case GpuPrecision::kF32: return "f32";
    case GpuPrecision::kTf32: return "tf32";
    case GpuPrecision::kBf16: return "bf16";
  }
  return "f32";
}

std::string Names() {
  std::vector<std::string> names;
  for (const Target& t : NamedTargets()) names.push_back(t.name);
  return absl::StrJoin(names, ", ");
}

}  // namespace

const std::vector<RuntimeHook>& RuntimeHooks() {
  // The table's words, as C++ values.
  using V = RuntimeHook::Variant;
  constexpr KernelLibrary CORE = KernelLibrary::kNone, DNNL = KernelLibrary::kOneDnn,
                          CUDA = KernelLibrary::kCuda;
  constexpr V KERNEL = V::kKernel, BIAS = V::kBias, PREPARE = V::kPrepare, SUPPORT = V::kSupport;
  constexpr std::optional<LibraryKernel> kNone = std::nullopt, kMatMul = LibraryKernel::kMatMul,
                                         kConv2D = LibraryKernel::kConv2D,
                                         kConv2DBackpropInput = LibraryKernel::kConv2DBackpropInput,
                                         kConv2DBackpropFilter =
                                             LibraryKernel::kConv2DBackpropFilter,
                                         kBatchMatMul = LibraryKernel::kBatchMatMul;
  static const auto* const kHooks = new std::vector<RuntimeHook>{
#define KILN_HOOK(name, library, kernel, variant, operands, params) \
  RuntimeHook{#name, library, kernel, variant, operands, params},
#include "runtime/hooks.def"
  };
  return *kHooks;
}

std::vector<Target> NamedTargets() {
  return {
      // The portable default: AVX2 + FMA runs on any x86-64 machine of the last decade.
      Cpu("x86_64", "x86_64-unknown-linux-gnu", "x86-64-v3", "", 64, true, KernelLibrary::kOneDnn),
      // This host's CPU and features (AVX-512 where it has them); may not run elsewhere.
      Cpu("x86_64-native", "x86_64-unknown-linux-gnu", "native", "", 64, true,
          KernelLibrary::kOneDnn),
      // ARMv8-A with NEON; Debian's oneDNN is x86 only here, so every op is generated code.
      Cpu("aarch64-linux", "aarch64-unknown-linux-gnu", "generic", "+neon", 64, true,
          KernelLibrary::kNone),
      // WebAssembly with SIMD128, single-threaded so pages need no cross-origin isolation.
      Cpu("wasm32", "wasm32-unknown-wasi", "generic", "+simd128", 32, false, KernelLibrary::kNone),
      CortexM4(),
      Cuda(kDefaultChip),
  };
}

Target DefaultTarget() { return NamedTargets()[0]; }

const char* KernelLibraryName(KernelLibrary library) {
  switch (library) {
    case KernelLibrary::kNone: return "none";
    case KernelLibrary::kOneDnn: return "oneDNN";
    case KernelLibrary::kCuda: return "cuBLASLt/cuDNN";
  }
  return "none";
}

const LibraryKernelRule* Target::LibraryRule(LibraryKernel kernel) const {
  for (const LibraryKernelRule& rule : Rules(library)) {
    if (rule.kernel == kernel) return &rule;
  }
  return nullptr;
}

absl::StatusOr<Target> ParseTarget(const std::string& spec) {
  std::vector<std::string> parts = absl::StrSplit(spec, ',');
  const std::string& name = parts[0];
  Target target;
  bool found = false;
  if (name == "cuda" || absl::StartsWith(name, "cuda:")) {
    const std::string chip = name == "cuda" ? kDefaultChip : name.substr(5);
    // sm_XX or sm_XXX (optionally with an "a" suffix: sm_90a).
    const bool valid = chip.size() >= 5 && chip.rfind("sm_", 0) == 0 &&
                       std::all_of(chip.begin() + 3, chip.end(),
                                   [](char c) { return std::isdigit(c) || c == 'a'; });
    if (!valid) {
      return absl::InvalidArgumentError(
          absl::StrCat("target '", name, "': '", chip, "' is not a GPU chip (sm_XX)"));
    }
    target = Cuda(chip);
    found = true;
  } else {
    for (const Target& t : NamedTargets()) {
      if (t.name == name) {
        target = t;
        found = true;
      }
    }
  }
  if (!found) {
    return absl::InvalidArgumentError(absl::StrCat("unknown target '", name, "' (known: ", Names(),
                                                   "; cuda:sm_XX for any chip)"));
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    std::vector<std::string> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
    const std::string& key = kv[0];
    if (kv.size() != 2 || kv[1].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("target '", spec, "': option '", parts[i], "' is not KEY=VALUE"));
    }
    const std::string& value = kv[1];
    if (key == "cpu") {
      target.cpu = value;
    } else if (key == "features") {
      target.features = value;
    } else if (key == "library" && value == "none") {
      target.library = KernelLibrary::kNone;
    } else if (key == "precision" && target.is_gpu()) {
      if (value == "f32") {
        target.gpu_precision = GpuPrecision::kF32;
      } else if (value == "tf32") {
        target.gpu_precision = GpuPrecision::kTf32;
      } else if (value == "bf16") {
        target.gpu_precision = GpuPrecision::kBf16;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("target '", spec, "': precision '", value, "' is not f32, tf32 or bf16"));
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("target '", spec, "': unknown option '", parts[i],
                       "' (options: cpu=C, features=F, library=none",
                       target.is_gpu() ? ", precision=f32|tf32|bf16)" : ")"));
    }
  }
  return target;
}

std::string Target::Spec() const {
  absl::StatusOr<Target> base = ParseTarget(name);
  std::string spec = name;
  if (!base.ok()) return spec;
  if (cpu != base->cpu) absl::StrAppend(&spec, ",cpu=", cpu);
  if (features != base->features) absl::StrAppend(&spec, ",features=", features);
  if (library != base->library && library == KernelLibrary::kNone)
    absl::StrAppend(&spec, ",library=none");
  if (gpu_precision != base->gpu_precision)
    absl::StrAppend(&spec, ",precision=", PrecisionName(gpu_precision));
  return spec;
}

std::string Target::Describe() const {
  std::string s = absl::StrCat(triple, ", cpu ", cpu);
  if (!features.empty()) absl::StrAppend(&s, " ", features);
  if (hard_float_abi) absl::StrAppend(&s, ", hard-float ABI");
  absl::StrAppend(&s, ", ", pointer_bits, "-bit, ", threads ? "threads" : "no threads",
                  ", library kernels: ", KernelLibraryName(library));
  if (is_gpu()) absl::StrAppend(&s, ", GPU ", gpu_chip, " (", PrecisionName(gpu_precision), ")");
  return s;
}

}  // namespace kiln
