#include "passes/gpu_pipeline.h"

#include <numeric>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToGPU/SCFToGPUPass.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Transforms/Passes.h"

namespace kiln {

namespace {

// Each outermost loop nest becomes one 1-D loop split into blocks of `block_size` (outer: the grid,
// inner: a block's threads; deeper loops run in each thread), with the constants it reads cloned
// into it, so that outlining copies them into the kernel's module rather than passing host addresses.
void PrepareLoopsForGpu(mlir::func::FuncOp func, int64_t block_size) {
  mlir::IRRewriter rewriter(func.getContext());
  auto outermost = [&] {
    std::vector<mlir::scf::ParallelOp> loops;
    for (auto loop : func.getBody().front().getOps<mlir::scf::ParallelOp>()) loops.push_back(loop);
    return loops;
  };
  for (mlir::scf::ParallelOp loop : outermost()) {
    llvm::SetVector<mlir::Operation*> globals;
    loop.walk([&](mlir::Operation* op) {
      for (mlir::Value v : op->getOperands()) {
        if (auto global = v.getDefiningOp<mlir::memref::GetGlobalOp>()) {
          if (!loop->isAncestor(global)) globals.insert(global);
        }
      }
    });
    rewriter.setInsertionPointToStart(loop.getBody());
    for (mlir::Operation* global : globals) {
      mlir::Operation* copy = rewriter.clone(*global);
      global->getResult(0).replaceUsesWithIf(copy->getResult(0), [&](mlir::OpOperand& use) {
        return loop->isAncestor(use.getOwner());
      });
    }
    if (loop.getNumLoops() > 1) {
      std::vector<unsigned> all(loop.getNumLoops());
      std::iota(all.begin(), all.end(), 0);
      rewriter.setInsertionPoint(loop);
      mlir::collapseParallelLoops(rewriter, loop, {all});
    }
  }
  for (mlir::scf::ParallelOp loop : outermost()) {
    mlir::scf::tileParallelLoop(loop, {block_size}, /*noMinMaxBounds=*/true);
  }
}

// After mapping, a host function may only allocate, view and launch: name the first op that would
// run on the host but touches memory or loops.
absl::Status CheckHostFunctions(mlir::ModuleOp module) {
  absl::Status status;
  module.walk([&](mlir::Operation* op) {
    if (op->getParentOfType<mlir::gpu::GPUModuleOp>() || op->getParentOfType<mlir::gpu::LaunchOp>()) {
      return mlir::WalkResult::skip();
    }
    const bool host_work =
        mlir::isa<mlir::scf::ParallelOp, mlir::scf::ForOp, mlir::scf::WhileOp, mlir::memref::LoadOp,
                  mlir::memref::StoreOp, mlir::memref::CopyOp, mlir::func::CallOp>(op) ||
        op->getDialect()->getNamespace() == "linalg";
    if (!host_work) return mlir::WalkResult::advance();
    std::string where;
    llvm::raw_string_ostream os(where);
    os << op->getLoc();
    status = absl::UnimplementedError(absl::StrCat("'", op->getName().getStringRef().str(), "' at ", where,
                                                   " would run on the host: the CUDA target has no kernel for it yet"));
    return mlir::WalkResult::interrupt();
  });
  return status;
}

}  // namespace

void RegisterGpuDialects(mlir::DialectRegistry& registry) {
  registry.insert<mlir::gpu::GPUDialect, mlir::NVVM::NVVMDialect>();
  // convert-gpu-to-nvvm lowers the kernels' other dialects through their ConvertToLLVM interfaces
  // (mlir-opt registers all of them; a library registers what it uses).
  mlir::arith::registerConvertArithToLLVMInterface(registry);
  mlir::cf::registerConvertControlFlowToLLVMInterface(registry);
  mlir::registerConvertFuncToLLVMInterface(registry);
  mlir::registerConvertMathToLLVMInterface(registry);
  mlir::registerConvertMemRefToLLVMInterface(registry);
  mlir::registerConvertNVVMToLLVMInterface(registry);
  mlir::NVVM::registerConvertGpuToNVVMInterface(registry);
  mlir::ub::registerConvertUBToLLVMInterface(registry);
  mlir::NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  mlir::registerGPUDialectTranslation(registry);
  mlir::registerNVVMDialectTranslation(registry);
}

absl::StatusOr<std::vector<GpuKernel>> CompileTensorsToPtx(mlir::ModuleOp module, const GpuOptions& gpu,
                                                           PipelineOptions options) {
  mlir::MLIRContext* context = module.getContext();
  options.gpu = true;
  {
    mlir::PassManager pm(context);
    AddTensorsToLoopsPasses(pm, options);
    KILN_RETURN_IF_ERROR(RunPasses(pm, module, "bufferization", options));
  }
  for (auto func : module.getOps<mlir::func::FuncOp>()) {
    if (!func.isDeclaration()) PrepareLoopsForGpu(func, gpu.block_size);
  }
  {
    mlir::PassManager pm(context);
    // Grid, block, then sequential loops inside a thread.
    pm.addNestedPass<mlir::func::FuncOp>(mlir::createGpuMapParallelLoopsPass());
    pm.addPass(mlir::createConvertParallelLoopToGpuPass());
    pm.addPass(mlir::createCanonicalizerPass());
    pm.addPass(mlir::createGpuLaunchSinkIndexComputationsPass());
    pm.addPass(mlir::createGpuKernelOutliningPass());
    // libdevice is linked explicitly: without it erf, exp, ... stay unresolved externs in the PTX.
    mlir::GpuNVVMAttachTargetOptions target;
    target.chip = gpu.chip;
    target.optLevel = 3;
    target.linkLibs.push_back(gpu.toolkit + "/nvvm/libdevice/libdevice.10.bc");
    pm.addPass(mlir::createGpuNVVMAttachTarget(target));
    mlir::OpPassManager& kernels = pm.nest<mlir::gpu::GPUModuleOp>();
    kernels.addPass(mlir::createLowerAffinePass());
    // Serial loops inside a thread (reductions) must be branches before NVVM.
    kernels.addPass(mlir::createSCFToControlFlowPass());
    mlir::ConvertGpuOpsToNVVMOpsOptions nvvm;
    nvvm.useBarePtrCallConv = true;
    kernels.addPass(mlir::createConvertGpuOpsToNVVMOps(nvvm));
    kernels.addPass(mlir::createCanonicalizerPass());
    kernels.addPass(mlir::createCSEPass());
    kernels.addPass(mlir::createReconcileUnrealizedCastsPass());
    KILN_RETURN_IF_ERROR(RunPasses(pm, module, "mapping loops to GPU kernels", options));
  }
  KILN_RETURN_IF_ERROR(CheckHostFunctions(module));
  {
    mlir::PassManager pm(context);
    mlir::GpuModuleToBinaryPassOptions binary;
    binary.toolkitPath = gpu.toolkit;
    binary.compilationTarget = "isa";  // PTX
    pm.addPass(mlir::createGpuModuleToBinaryPass(binary));
    KILN_RETURN_IF_ERROR(RunPasses(pm, module, "PTX generation", options));
  }
  std::vector<GpuKernel> kernels;
  for (auto binary : module.getOps<mlir::gpu::BinaryOp>()) {
    for (mlir::Attribute a : binary.getObjectsAttr()) {
      auto object = mlir::cast<mlir::gpu::ObjectAttr>(a);
      kernels.push_back({binary.getSymName().str(), object.getObject().getValue().str()});
    }
  }
  return kernels;
}

}  // namespace kiln
