#include "codegen/model_description.h"

#include <string>

#include "catch2/catch.hpp"
#include "codegen/object_emitter.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "passes/dialects.h"
#include "runtime/little_endian.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

ModelDescription Example() {
  ModelDescription d;
  d.name = "mlp";
  d.fingerprint = "kiln-graph-0123456789abcdef";
  d.target = "x86_64,library=none";
  d.training = true;
  d.arena_bytes = 4096;
  d.init_entry = "kiln_mlp_init";
  d.run_entry = "kiln_mlp_run";
  d.prepare_entry = "kiln_mlp_prepare";
  d.arguments = {
      {"images", "images", KILN_ROLE_INPUT, {DType::kF32, Shape({8, 784})}},
      {"dense/kernel", "dense_kernel", KILN_ROLE_VARIABLE, {DType::kF32, Shape({784, 10})}},
      {"step", "step", KILN_ROLE_VARIABLE, {DType::kI64, Shape()}},
      {"loss", "loss", KILN_ROLE_OUTPUT, {DType::kF32, Shape()}}};
  d.hooks = {"kiln_rt_index_error", "kiln_rt_parallel_for"};
  return d;
}

// Parses `bytes`, returning the code and the message.
std::pair<kiln_status_code, std::string> Parse(const std::string& bytes) {
  kiln_model_info info;
  char message[200] = "";
  const kiln_status_code code =
      kiln_model_info_parse(bytes.data(), bytes.size(), &info, message, sizeof message);
  kiln_model_info_release(&info);
  return {code, message};
}

TEST_CASE("A model description reads back as it was written") {
  const std::string bytes = SerializeModelDescription(Example());
  kiln_model_info info;
  char message[200];
  REQUIRE(kiln_model_info_parse(bytes.data(), bytes.size(), &info, message, sizeof message) ==
          KILN_OK);
  CHECK(info.abi_version == KILN_MODEL_ABI_VERSION);
  CHECK(std::string(info.name) == "mlp");
  CHECK(std::string(info.fingerprint) == "kiln-graph-0123456789abcdef");
  CHECK(std::string(info.target) == "x86_64,library=none");
  CHECK(info.training);
  CHECK(info.arena_bytes == 4096);
  CHECK(std::string(info.run_entry) == "kiln_mlp_run");
  CHECK(std::string(info.prepare_entry) == "kiln_mlp_prepare");
  REQUIRE(info.num_args == 4);
  const kiln_model_arg& kernel = info.args[1];
  CHECK(std::string(kernel.name) == "dense/kernel");
  CHECK(std::string(kernel.identifier) == "dense_kernel");
  CHECK(kernel.role == KILN_ROLE_VARIABLE);
  CHECK(kernel.dtype == KILN_F32);
  CHECK(kernel.rank == 2);
  CHECK(kernel.dims[0] == 784);
  CHECK(kernel.dims[1] == 10);
  CHECK(kernel.elements == 7840);
  CHECK(kernel.bytes == 7840 * 4);
  CHECK(info.args[2].rank == 0);
  CHECK(info.args[2].bytes == 8);
  CHECK(info.args[3].role == KILN_ROLE_OUTPUT);
  REQUIRE(info.num_hooks == 2);
  CHECK(std::string(info.hooks[1]) == "kiln_rt_parallel_for");
  kiln_model_info_release(&info);
  CHECK(info.args == nullptr);
}

TEST_CASE("Malformed model descriptions are refused with the reason") {
  const std::string good = SerializeModelDescription(Example());
  CHECK(Parse("").first == KILN_DATA_LOSS);
  CHECK(Parse("not a model description at all, but long enough to hold a header; really quite long")
            .second == "not a Kiln model description (no KILNMODL header)");
  // Truncated: the size field disagrees.
  auto truncated = Parse(good.substr(0, good.size() - 1));
  CHECK(truncated.first == KILN_DATA_LOSS);
  CHECK(truncated.second.find("bytes given as") != std::string::npos);
  // A newer ABI.
  std::string newer = good;
  rt::PutLittleEndian(&newer[8], KILN_MODEL_ABI_VERSION + 1, 4);
  CHECK(Parse(newer).first == KILN_FAILED_PRECONDITION);
  // A string offset past the end.
  std::string bad_name = good;
  rt::PutLittleEndian(&bad_name[16], good.size() + 10, 4);
  CHECK(Parse(bad_name).second ==
        "malformed model description: the name starts outside the description");
  // Argument records past the end.
  std::string bad_count = good;
  rt::PutLittleEndian(&bad_count[52], 1u << 28, 4);
  CHECK(Parse(bad_count).second.find("the argument records lies outside") != std::string::npos);
  // An unknown dtype, and a byte count that disagrees with the shape.
  const size_t arg1 = 68 + 32;
  std::string bad_dtype = good;
  rt::PutLittleEndian(&bad_dtype[arg1 + 12], 99, 4);
  CHECK(Parse(bad_dtype).second.find("argument 1 has an unknown dtype") != std::string::npos);
  std::string bad_bytes = good;
  rt::PutLittleEndian(&bad_bytes[arg1 + 24], 12, 8);
  CHECK(Parse(bad_bytes).second.find("argument 1's byte count disagrees") != std::string::npos);
  // Every shorter prefix, and every single-byte corruption, is refused or read without a crash.
  for (size_t n = 0; n < good.size(); ++n) CHECK(Parse(good.substr(0, n)).first != KILN_OK);
  for (size_t i = 0; i < good.size(); ++i) {
    std::string corrupt = good;
    corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
    Parse(corrupt);
  }
}

TEST_CASE("Tools read the description from an object file's section, for any target") {
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadDialect<mlir::LLVM::LLVMDialect>();
  const std::string bytes = SerializeModelDescription(Example());
  for (const char* spec : {"x86_64", "aarch64-linux", "cortex-m4", "wasm32"}) {
    INFO(spec);
    mlir::OwningOpRef<mlir::ModuleOp> module =
        mlir::ModuleOp::create(mlir::UnknownLoc::get(&context));
    EmbedModelDescription(*module, "mlp", bytes);
    absl::StatusOr<std::string> object = EmitObject(*module, *ParseTarget(spec));
    REQUIRE_THAT(object.status(), IsOk());
    CHECK(object->find("kiln_mlp_model_description") != std::string::npos);
    absl::StatusOr<std::string> read = ReadModelDescription(*object);
    REQUIRE_THAT(read.status(), IsOk());
    CHECK(*read == bytes);
  }
  CHECK_THAT(ReadModelDescription("not an object").status(),
             StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace kiln
