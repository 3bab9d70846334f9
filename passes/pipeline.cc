#include "passes/pipeline.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"
#include "passes/passes.h"

namespace kiln {

absl::Status RunPasses(mlir::PassManager& pm, mlir::ModuleOp module, const char* what,
                       const PipelineOptions& options) {
  if (options.print_ir_after_all) {
    module.getContext()->disableMultithreading();  // IR printing needs it
    pm.enableIRPrinting();
  }
  std::string diagnostics;
  mlir::ScopedDiagnosticHandler handler(module.getContext(), [&](mlir::Diagnostic& diag) {
    llvm::raw_string_ostream os(diagnostics);
    os << diag.getLocation() << ": " << diag << "\n";
    return mlir::success();
  });
  if (mlir::failed(pm.run(module))) {
    // The graph was validated when it was built or loaded: a pass that fails on it is our bug.
    return absl::InternalError(absl::StrCat(what, " failed:\n", diagnostics));
  }
  return absl::OkStatus();
}

void AddTensorPasses(mlir::OpPassManager& pm, const PipelineOptions& options) {
  // Chains of elementwise ops (and broadcasts) become one loop nest: no intermediate tensors;
  // cheap producers with several consumers are recomputed in each.
  pm.addPass(createFuseElementwisePass());
  // Folds what fusion exposes: x * 1, x + 0, reshape and transpose chains, identity loops,
  // constant arithmetic, dead ops.
  pm.addPass(createSimplifyPass());
  // A value computed twice (autodiff and composites do that) is computed once.
  pm.addNestedPass<mlir::func::FuncOp>(createCsePass());
  // GPU threads: long reductions with few results are split into parts.
  if (options.split_reductions) {
    SplitReductionsPassOptions split;
    split.min_length = options.split_min_length;
    pm.addPass(createSplitReductionsPass(split));
  }
  // Results are computed in their destination buffers rather than copied there.
  pm.addPass(mlir::bufferization::createEmptyTensorEliminationPass());
  mlir::bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      mlir::bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(mlir::bufferization::createOneShotBufferizePass(bufferize));
  // CSE only now: on tensors it would merge the identical empty tensors (and fills) that several
  // outputs start from, and empty-tensor elimination would then compute two outputs in one buffer.
  pm.addPass(mlir::createCSEPass());
  // A variable's new value is written straight into its buffer when nothing reads the old one
  // later.
  pm.addNestedPass<mlir::func::FuncOp>(createUpdateInPlacePass());
}

namespace {

// The loop passes both tails share; `thread_per_element` orders loops for GPU threads.
void AddBuffersToLoopsPasses(mlir::OpPassManager& pm, bool thread_per_element) {
  // Every temporary goes into one arena whose size is known now; buffers with disjoint lifetimes
  // share memory, and the compiled code never allocates.
  pm.addNestedPass<mlir::func::FuncOp>(createPlanMemoryPass());
  // Library calls become calls of the runtime's C hooks, once buffers are placed.
  pm.addPass(createLowerLibraryCallsPass());
  // CPU: contractions in loops (no library) walk their result's last dim innermost, which
  // vectorizes. GPU: the reverse, parallel loops outermost, a thread per result element.
  pm.addPass(createInterchangeLoopsPass(InterchangeLoopsPassOptions{thread_per_element}));
  // Elementwise nests over contiguous dims become one long loop, which vectorizes without gathers.
  pm.addPass(createCollapseLoopsPass());
  // Reductions accumulate in registers rather than in their result buffer.
  pm.addPass(createReductionsToLoopsPass());
  // Loops: scf.parallel where iterations are independent, scf.for for reductions.
  pm.addPass(mlir::createConvertLinalgToParallelLoopsPass());
  // One view per buffer: an in-place update reads and writes its variable through two
  // collapse_shapes that must be one value, or LLVM cannot tell the store from the load and skips
  // vectorizing.
  pm.addPass(mlir::createCSEPass());
}

}  // namespace

void AddCpuLoopPasses(mlir::OpPassManager& pm, const Target& target,
                      const PipelineOptions& options) {
  // Loop nests over the same rows (softmax, layernorm: reductions, then the normalized output) run
  // row block by row block: one pass over memory instead of one per nest.
  pm.addNestedPass<mlir::func::FuncOp>(createFuseRowsPass());
  AddBuffersToLoopsPasses(pm, /*thread_per_element=*/false);
  // Large outermost parallel loops run on the runtime's thread pool, where the target has one.
  if (target.threads)
    pm.addPass(createParallelizePass(ParallelizePassOptions{options.parallel_min_work}));
  pm.addPass(mlir::createLowerAffinePass());
  pm.addPass(mlir::createCanonicalizerPass());
}

void AddGpuLoopPasses(mlir::OpPassManager& pm) {
  // No row fusion: a row block in one thread would serialize what a GPU runs in parallel.
  AddBuffersToLoopsPasses(pm, /*thread_per_element=*/true);
  // (No canonicalizer: it would fold the one-iteration loops that are to become one-thread
  // kernels.)
  pm.addPass(mlir::createLowerAffinePass());
}

void AddLoopsToLlvmPasses(mlir::OpPassManager& pm) {
  // erf as vectorizable arithmetic rather than a libm call per element.
  pm.addPass(createApproximateMathPass());
  // rsqrt has neither an LLVM intrinsic nor a libm function: 1 / sqrt.
  pm.addPass(mlir::math::createMathExpandOpsPass(mlir::math::MathExpandOpsPassOptions{{"rsqrt"}}));
  // Structured loops become branches, which the LLVM dialect has.
  pm.addPass(mlir::createSCFToControlFlowPass());
  // Subviews and reshapes become explicit offset/stride arithmetic before memrefs are lowered.
  pm.addPass(mlir::memref::createExpandStridedMetadataPass());
  // ... whose index arithmetic (a subview's offset) it writes as affine.apply.
  pm.addPass(mlir::createLowerAffinePass());
  pm.addPass(mlir::createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(mlir::createArithToLLVMConversionPass());
  // Math with an LLVM intrinsic becomes it; the rest (erf, ...) calls libm.
  pm.addPass(mlir::createConvertMathToLLVMPass());
  pm.addPass(mlir::createConvertMathToLibmPass());
  pm.addPass(mlir::createConvertControlFlowToLLVMPass());
  // Bare pointers give generated functions a plain C signature.
  mlir::ConvertFuncToLLVMPassOptions func_options;
  func_options.useBarePtrCallConv = true;
  pm.addPass(mlir::createConvertFuncToLLVMPass(func_options));
  // The conversions above meet through casts that cancel out once everything is LLVM.
  pm.addPass(mlir::createReconcileUnrealizedCastsPass());
}

absl::Status CompileTensorsToLlvmDialect(mlir::ModuleOp module, const Target& target,
                                         const PipelineOptions& options) {
  mlir::PassManager pm(module.getContext());
  AddTensorPasses(pm, options);
  AddCpuLoopPasses(pm, target, options);
  KILN_RETURN_IF_ERROR(RunPasses(pm, module, "bufferization", options));
  return LowerToLlvmDialect(module, options);
}

absl::Status LowerToLlvmDialect(mlir::ModuleOp module, const PipelineOptions& options) {
  mlir::PassManager pm(module.getContext());
  AddLoopsToLlvmPasses(pm);
  KILN_RETURN_IF_ERROR(RunPasses(pm, module, "lowering to LLVM", options));
  // The conversions are partial: an op they do not know survives them. Name the first one.
  mlir::Operation* leftover = nullptr;
  module.walk([&](mlir::Operation* op) {
    if (op == module.getOperation() || llvm::isa<mlir::LLVM::LLVMDialect>(op->getDialect())) {
      return mlir::WalkResult::advance();
    }
    leftover = op;
    return mlir::WalkResult::interrupt();
  });
  if (leftover != nullptr) {
    std::string where;
    llvm::raw_string_ostream os(where);
    os << leftover->getLoc();
    return absl::UnimplementedError(absl::StrCat("lowering to LLVM failed: '",
                                                 leftover->getName().getStringRef().str(), "' at ",
                                                 where, " has no LLVM lowering"));
  }
  return absl::OkStatus();
}

int64_t ArenaBytes(mlir::ModuleOp module, const std::string& function) {
  mlir::Operation* f = mlir::SymbolTable::lookupSymbolIn(module, function);
  if (f == nullptr) return 0;
  auto bytes = f->getAttrOfType<mlir::IntegerAttr>("kiln.arena_bytes");
  return bytes ? bytes.getInt() : 0;
}

}  // namespace kiln
