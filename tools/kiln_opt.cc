// kiln-opt: mlir-opt with Kiln's dialects and passes, for lit/FileCheck tests of passes/.
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "passes/dialects.h"
#include "passes/passes.h"

int main(int argc, char** argv) {
  mlir::DialectRegistry registry;
  kiln::RegisterDialects(registry);
  // Upstream canonicalize, cse, inline, ... so tests can combine them with Kiln's passes.
  mlir::registerTransformsPasses();
  kiln::registerKilnPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
