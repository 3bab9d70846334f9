#include "target/target.h"

#include "catch2/catch.hpp"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

TEST_CASE("Every named target parses back from its name") {
  for (const Target& t : NamedTargets()) {
    INFO(t.name);
    absl::StatusOr<Target> parsed = ParseTarget(t.name);
    REQUIRE_THAT(parsed.status(), IsOk());
    CHECK(parsed->triple == t.triple);
    CHECK(parsed->Spec() == t.name);
  }
}

TEST_CASE("Targets carry their per-target choices") {
  Target x86 = *ParseTarget("x86_64");
  CHECK(x86.cpu == "x86-64-v3");
  CHECK(x86.threads);
  CHECK(x86.library == KernelLibrary::kOneDnn);
  REQUIRE(x86.LibraryRule(LibraryKernel::kMatMul) != nullptr);
  CHECK(std::string(x86.LibraryRule(LibraryKernel::kMatMul)->hook->name) == "kiln_rt_dnnl_matmul");
  CHECK(std::string(x86.LibraryRule(LibraryKernel::kConv2D)->bias_hook->name) ==
        "kiln_rt_dnnl_conv2d_bias");
  CHECK(x86.LibraryRule(LibraryKernel::kConv2DBackpropInput)->bias_hook == nullptr);

  Target wasm = *ParseTarget("wasm32");
  CHECK(wasm.pointer_bits == 32);
  CHECK_FALSE(wasm.threads);
  CHECK(wasm.LibraryRule(LibraryKernel::kMatMul) == nullptr);

  Target m4 = *ParseTarget("cortex-m4");
  CHECK(m4.triple == "thumbv7em-none-eabihf");
  CHECK_FALSE(m4.threads);

  Target cuda = *ParseTarget("cuda:sm_80,precision=tf32");
  CHECK(cuda.is_gpu());
  CHECK(cuda.gpu_chip == "sm_80");
  CHECK(cuda.gpu_precision == GpuPrecision::kTf32);
  CHECK(cuda.Spec() == "cuda:sm_80,precision=tf32");
  const LibraryKernelRule* conv = cuda.LibraryRule(LibraryKernel::kConv2D);
  REQUIRE(conv != nullptr);
  CHECK(conv->symmetric_padding_only);
  CHECK(conv->ohwi_filters);
  CHECK(conv->bias_hook == nullptr);
  CHECK(std::string(cuda.LibraryRule(LibraryKernel::kMatMul)->bias_hook->name) ==
        "kiln_rt_cuda_matmul_bias");
  CHECK(ParseTarget("cuda")->gpu_chip == "sm_90");
}

TEST_CASE("Options change a named target") {
  Target loops = *ParseTarget("x86_64,library=none,cpu=znver4");
  CHECK(loops.library == KernelLibrary::kNone);
  CHECK(loops.cpu == "znver4");
  CHECK(loops.LibraryRule(LibraryKernel::kMatMul) == nullptr);
  CHECK(loops.Spec() == "x86_64,cpu=znver4,library=none");
  CHECK(ParseTarget(loops.Spec())->Spec() == loops.Spec());
}

TEST_CASE("Bad target specs are clear errors") {
  CHECK_THAT(ParseTarget("pdp11").status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                                     "unknown target 'pdp11' (known: x86_64, "));
  CHECK_THAT(ParseTarget("cuda:gfx90a").status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "'gfx90a' is not a GPU chip"));
  CHECK_THAT(ParseTarget("x86_64,speed=max").status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "unknown option 'speed=max'"));
  CHECK_THAT(ParseTarget("x86_64,cpu").status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "option 'cpu' is not KEY=VALUE"));
  CHECK_THAT(ParseTarget("x86_64,precision=tf32").status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "unknown option 'precision=tf32'"));
  CHECK_THAT(
      ParseTarget("cuda,precision=fp8").status(),
      StatusIs(absl::StatusCode::kInvalidArgument, "precision 'fp8' is not f32, tf32 or bf16"));
}

}  // namespace
}  // namespace kiln
