#include "codegen/object_emitter.h"

#include <cstdint>
#include <cstring>
#include <string>

#include "catch2/catch.hpp"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"
#include "passes/dialects.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

constexpr char kAddModule[] = R"mlir(
  llvm.func @kiln_add(%a: f32, %b: f32) -> f32 {
    %c = llvm.fadd %a, %b : f32
    llvm.return %c : f32
  })mlir";

// ELF header field e_machine (little-endian, offset 18).
uint16_t ElfMachine(const std::string& object) {
  uint16_t machine = 0;
  std::memcpy(&machine, object.data() + 18, sizeof(machine));
  return machine;
}

struct Fixture {
  Fixture() : context(Registry()) {
    module = mlir::parseSourceString<mlir::ModuleOp>(kAddModule, &context);
  }
  static mlir::DialectRegistry Registry() {
    mlir::DialectRegistry registry;
    RegisterDialects(registry);
    return registry;
  }
  mlir::MLIRContext context;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

// x86_64 with another triple, which no spec names.
Target WithTriple(const std::string& triple) {
  Target t = *ParseTarget("x86_64");
  t.triple = triple;
  return t;
}

TEST_CASE("EmitObject writes ELF objects for x86-64 and aarch64") {
  Fixture f;
  REQUIRE(f.module);

  absl::StatusOr<std::string> x86 = EmitObject(*f.module, *ParseTarget("x86_64"));
  REQUIRE_THAT(x86.status(), IsOk());
  REQUIRE(x86->size() > 64);
  REQUIRE(x86->compare(0, 4,
                       "\x7f"
                       "ELF") == 0);
  REQUIRE(ElfMachine(*x86) == 62);  // EM_X86_64
  REQUIRE(x86->find("kiln_add") != std::string::npos);

  absl::StatusOr<std::string> arm = EmitObject(*f.module, *ParseTarget("aarch64-linux"));
  REQUIRE_THAT(arm.status(), IsOk());
  REQUIRE(ElfMachine(*arm) == 183);  // EM_AARCH64

  REQUIRE_THAT(EmitObject(*f.module, *ParseTarget("x86_64-native")).status(), IsOk());
}

TEST_CASE("EmitObject rejects unknown targets with a clear error") {
  Fixture f;
  REQUIRE(f.module);
  REQUIRE_THAT(EmitObject(*f.module, WithTriple("pdp11-unknown-none")).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "unknown target triple 'pdp11"));
  REQUIRE_THAT(EmitObject(*f.module, *ParseTarget("x86_64,cpu=not-a-cpu")).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "unknown CPU 'not-a-cpu'"));
}

}  // namespace
}  // namespace kiln
