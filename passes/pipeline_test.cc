#include "passes/pipeline.h"

#include <string>

#include "catch2/catch.hpp"
#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"
#include "passes/dialects.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

std::string Print(mlir::ModuleOp module) {
  std::string s;
  llvm::raw_string_ostream os(s);
  module.print(os);
  return s;
}

TEST_CASE("LowerToLlvmDialect lowers a loop over memrefs to LLVM with a bare-pointer ABI") {
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(R"mlir(
    func.func @relu(%x: memref<16xf32>, %y: memref<16xf32>) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c16 = arith.constant 16 : index
      %zero = arith.constant 0.0 : f32
      scf.for %i = %c0 to %c16 step %c1 {
        %v = memref.load %x[%i] : memref<16xf32>
        %r = arith.maximumf %v, %zero : f32
        memref.store %r, %y[%i] : memref<16xf32>
      }
      return
    })mlir",
                                                                                     &context);
  REQUIRE(module);
  REQUIRE_THAT(LowerToLlvmDialect(*module), IsOk());
  std::string ir = Print(*module);
  CAPTURE(ir);
  REQUIRE(ir.find("llvm.func @relu(%arg0: !llvm.ptr, %arg1: !llvm.ptr)") != std::string::npos);
  REQUIRE(ir.find("scf.for") == std::string::npos);
  REQUIRE(ir.find("memref.") == std::string::npos);
}

TEST_CASE("LowerToLlvmDialect reports what it cannot lower") {
  mlir::DialectRegistry registry;
  RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  // A tensor-level op is not bufferized, so the LLVM conversion must fail and say so.
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(R"mlir(
    func.func @t(%x: tensor<4xf32>) -> tensor<4xf32> {
      %y = arith.addf %x, %x : tensor<4xf32>
      return %y : tensor<4xf32>
    })mlir",
                                                                                     &context);
  REQUIRE(module);
  REQUIRE_THAT(LowerToLlvmDialect(*module),
               StatusIs(absl::StatusCode::kUnimplemented, "has no LLVM lowering"));
}

}  // namespace
}  // namespace kiln
