// kiln-opt: mlir-opt with Kiln's dialects and passes, for lit/FileCheck tests of passes/.
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "passes/dialects.h"
#include "passes/passes.h"
#include "passes/pipeline.h"

int main(int argc, char** argv) {
  mlir::DialectRegistry registry;
  kiln::RegisterDialects(registry);
  // Upstream canonicalize, cse, inline, ... so tests can combine them with Kiln's passes.
  mlir::registerTransformsPasses();
  kiln::registerKilnPasses();
  // The compiler's pipeline stages, so lit tests can check what each does to real IR.
  mlir::PassPipelineRegistration<>(
      "kiln-tensors-to-loops",
      "fusion, bufferization, memory plan, loops (kilnc's first stage, x86_64)",
      [](mlir::OpPassManager& pm) {
        kiln::AddTensorPasses(pm);
        kiln::AddCpuLoopPasses(pm, kiln::DefaultTarget());
      });
  mlir::PassPipelineRegistration<>("kiln-loops-to-llvm", "loops and memrefs to the LLVM dialect",
                                   kiln::AddLoopsToLlvmPasses);
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "Kiln optimizer driver\n", registry));
}
