#include "codegen/compiler.h"

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "catch2/catch.hpp"
#include "codegen/header.h"
#include "graph/layers.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/ops/op_util.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

// An op with every facet but a lowering, to test the compiler's error.
KILN_REGISTER_OP(OpDef("TestUnlowered")
                     .Doc("test only: x, with no lowering")
                     .Inputs({"x"})
                     .Shape(ops_internal::SameAsInput())
                     .NotDifferentiable("test only")
                     .Kernel([](KernelContext& c) {
                       c.out().values = c.in(0).values;
                       return absl::OkStatus();
                     }));

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Requires `header` to be codegen/testdata/`file`; otherwise writes it to the test's outputs.
void RequireGolden(const std::string& header, const std::string& file) {
  const std::string golden = ReadFile("codegen/testdata/" + file);
  if (header != golden) {
    if (const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR"))
      std::ofstream(std::string(dir) + "/" + file) << header;
    FAIL("header differs from codegen/testdata/"
         << file
         << "; the new one is in "
            "bazel-testlogs/codegen/compiler_test/test.outputs/ (copy it over if the change is "
            "intended)\n"
         << header);
  }
}

TEST_CASE("The generated headers match the golden files, for the CPU and CUDA targets") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3});
  Tensor ids = ops::Placeholder(g, "token ids", DType::kI32, {2});
  Tensor w = ops::Variable(g, "layer/w", DType::kF32, {3, 4}, ops::Initializer::Constant(0.5));
  g.AddOutput("y", ops::MatMul(x, w));
  g.AddOutput("id_sum", ops::ReduceSum(ids));
  CompileOptions options;
  options.name = "tiny_model";
  options.source = "tiny.pb";
  auto compiled = CompileGraph(g, options);
  REQUIRE_THAT(compiled.status(), IsOk());
  REQUIRE_FALSE(compiled->training);
  REQUIRE(compiled->object.compare(0, 4,
                                   "\x7f"
                                   "ELF") == 0);
  for (const char* entry : {"run", "init", "prepare", "model_description"}) {
    REQUIRE(compiled->object.find(std::string("kiln_tiny_model_") + entry) != std::string::npos);
  }
  // The object carries the description the header was rendered from.
  absl::StatusOr<std::string> embedded = ReadModelDescription(compiled->object);
  REQUIRE_THAT(embedded.status(), IsOk());
  REQUIRE(*embedded == compiled->description);
  absl::StatusOr<std::string> header = RenderHeader(*embedded, "tiny.pb");
  REQUIRE_THAT(header.status(), IsOk());
  REQUIRE(*header == compiled->header);
  RequireGolden(compiled->header, "tiny_model.h");

  // The same model described for the CUDA target (compiling for it needs the toolkit; rendering
  // its header does not).
  ModelDescription cuda;
  cuda.name = "tiny_model";
  cuda.fingerprint = compiled->fingerprint;
  cuda.target = "cuda:sm_90";
  cuda.arena_bytes = compiled->arena_bytes;
  cuda.init_entry = "kiln_tiny_model_init";
  cuda.run_entry = "kiln_tiny_model_run";
  cuda.prepare_entry = "kiln_tiny_model_prepare";
  cuda.arguments = compiled->arguments;
  cuda.hooks = {"kiln_rt_cuda_launch", "kiln_rt_cuda_matmul", "kiln_rt_cuda_matmul_prepare"};
  absl::StatusOr<std::string> cuda_header =
      RenderHeader(SerializeModelDescription(cuda), "tiny.pb");
  REQUIRE_THAT(cuda_header.status(), IsOk());
  RequireGolden(*cuda_header, "tiny_model_cuda.h");
}

TEST_CASE("CompileGraph reports bad names, missing outputs and ops without a lowering") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2});
  CompileOptions options;
  REQUIRE_THAT(CompileGraph(g, options).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "the graph has no named outputs"));
  const int line = __LINE__ + 1;
  g.AddOutput("y", g.Output(g.AddNode("TestUnlowered", {x}, {}, SourceLoc::Current())));
  options.name = "9lives";
  REQUIRE_THAT(CompileGraph(g, options).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "name '9lives' is not a C identifier"));
  options.name = "model";
  REQUIRE_THAT(CompileGraph(g, options).status(),
               StatusIs(absl::StatusCode::kUnimplemented,
                        "TestUnlowered 'TestUnlowered' (compiler_test.cc:" + std::to_string(line) +
                            "): no lowering for the x86_64 target yet"));
}

// Little-endian integer of `bytes` at `offset` in an object file.
uint32_t Read(const std::string& object, size_t offset, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(object[offset + i]);
  return v;
}

uint32_t Uleb(const std::string& data, size_t& at) {
  uint32_t v = 0;
  for (int shift = 0; at < data.size(); shift += 7) {
    const unsigned char byte = data[at++];
    v |= static_cast<uint32_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) break;
  }
  return v;
}

// The file-scope build attributes of a 32-bit ARM ELF object (its SHT_ARM_ATTRIBUTES section,
// "aeabi" vendor), tag → value (numbers in decimal). How the object records its CPU and float ABI.
std::map<uint32_t, std::string> ArmAttributes(const std::string& object) {
  std::map<uint32_t, std::string> attributes;
  const uint32_t shoff = Read(object, 32, 4), shentsize = Read(object, 46, 2),
                 shnum = Read(object, 48, 2);
  for (uint32_t i = 0; i < shnum; ++i) {
    const size_t header = shoff + i * shentsize;
    if (Read(object, header + 4, 4) != 0x70000003u) continue;  // SHT_ARM_ATTRIBUTES
    const std::string section =
        object.substr(Read(object, header + 16, 4), Read(object, header + 20, 4));
    // 'A', u32 subsection size, "aeabi\0", tag 1 (file), u32 size, then (tag, value) pairs.
    size_t at = 1 + 4 + 6;
    if (section.compare(5, 6, std::string("aeabi\0", 6)) != 0 || section[at] != 1)
      return attributes;
    at += 1 + 4;
    while (at < section.size()) {
      const uint32_t tag = Uleb(section, at);
      // Tags 4, 5 and 67 and odd tags above 32 are strings; the others numbers.
      if (tag == 4 || tag == 5 || tag == 67 || (tag > 32 && tag % 2 == 1)) {
        const size_t end = section.find('\0', at);
        attributes[tag] = section.substr(at, end - at);
        at = end + 1;
      } else {
        attributes[tag] = std::to_string(Uleb(section, at));
      }
    }
  }
  return attributes;
}

TEST_CASE("Every named CPU target compiles the MLP inference graph to an object for its machine") {
  Graph g;
  layers::Model model(g, /*seed=*/1);
  Tensor images = ops::Placeholder(g, "images", DType::kF32, {8, 784});
  Tensor hidden = model.Dense(images, 128, layers::Activation::kRelu);
  g.AddOutput("probabilities", ops::Softmax(model.Dense(hidden, 10)));
  REQUIRE_THAT(g.status(), IsOk());
  // ELF machine (EM_*) and class (1: 32-bit, 2: 64-bit) per target; wasm objects have no ELF
  // header.
  struct Expected {
    const char* target;
    uint32_t machine;
    int elf_class;
  };
  for (const Expected& e : {Expected{"x86_64", 62, 2}, Expected{"x86_64-native", 62, 2},
                            Expected{"aarch64-linux", 183, 2}, Expected{"cortex-m4", 40, 1},
                            Expected{"wasm32", 0, 0}}) {
    INFO("target " << e.target);
    CompileOptions options;
    options.name = "mlp";
    options.target = *ParseTarget(e.target);
    absl::StatusOr<CompiledGraph> compiled = CompileGraph(g, options);
    REQUIRE_THAT(compiled.status(), IsOk());
    const std::string& object = compiled->object;
    REQUIRE(object.size() > 64);
    REQUIRE(object.find("kiln_mlp_run") != std::string::npos);
    if (e.machine == 0) {
      CHECK(object.compare(0, 4, std::string("\0asm", 4)) == 0);
      continue;
    }
    REQUIRE(object.compare(0, 4,
                           "\x7f"
                           "ELF") == 0);
    CHECK(static_cast<int>(object[4]) == e.elf_class);
    CHECK(Read(object, 18, 2) == e.machine);
    if (std::string(e.target) == "cortex-m4") {
      CHECK((Read(object, 36, 4) & 0xff000000u) == 0x05000000u);  // e_flags: EABI version 5
      const std::map<uint32_t, std::string> attributes = ArmAttributes(object);
      CHECK(attributes.at(5) == "cortex-m4");  // Tag_CPU_name
      CHECK(attributes.at(28) == "1");  // Tag_ABI_VFP_args: floats in VFP registers (hard float)
    }
  }
}

}  // namespace
}  // namespace kiln
