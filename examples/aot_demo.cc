// Kiln's ahead-of-time path in miniature, until the graph compiler exists: an MLIR function is lowered
// to the LLVM dialect (passes/), compiled to an x86-64 object (codegen/), and written to a file that a
// plain C program links (see demo.sh). Usage: aot_demo OUT.o
#include <cstdio>
#include <fstream>
#include <string>

#include "codegen/object_emitter.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Parser/Parser.h"
#include "passes/dialects.h"
#include "passes/pipeline.h"

// y[i] = max(x[i], 0) * scale + shift: a dense layer's epilogue on 1024 elements.
constexpr char kSource[] = R"mlir(
  func.func @kiln_relu_affine(%x: memref<1024xf32>, %y: memref<1024xf32>, %scale: f32, %shift: f32) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %n = arith.constant 1024 : index
    %zero = arith.constant 0.0 : f32
    scf.for %i = %c0 to %n step %c1 {
      %v = memref.load %x[%i] : memref<1024xf32>
      %r = arith.maximumf %v, %zero : f32
      %m = arith.mulf %r, %scale : f32
      %a = arith.addf %m, %shift : f32
      memref.store %a, %y[%i] : memref<1024xf32>
    }
    return
  })mlir";

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.o\n", argv[0]);
    return 2;
  }
  mlir::DialectRegistry registry;
  kiln::RegisterDialects(registry);
  mlir::MLIRContext context(registry);
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::parseSourceString<mlir::ModuleOp>(kSource, &context);
  if (!module) return 1;
  if (absl::Status s = kiln::LowerToLlvmDialect(*module); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  absl::StatusOr<std::string> object = kiln::EmitObject(*module, kiln::CpuTarget{});
  if (!object.ok()) {
    std::fprintf(stderr, "%s\n", object.status().ToString().c_str());
    return 1;
  }
  std::ofstream out(argv[1], std::ios::binary);
  out.write(object->data(), static_cast<std::streamsize>(object->size()));
  if (!out.good()) {
    std::fprintf(stderr, "cannot write %s\n", argv[1]);
    return 1;
  }
  std::printf("aot_demo: wrote %s (%zu bytes, x86-64-v3)\n", argv[1], object->size());
  return 0;
}
