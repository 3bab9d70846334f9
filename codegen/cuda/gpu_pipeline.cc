#include "codegen/cuda/gpu_pipeline.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
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
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/SCFToGPU/SCFToGPUPass.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
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
// into it, so that outlining copies them into the kernel's module rather than passing host
// addresses.
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
    if (op->getParentOfType<mlir::gpu::GPUModuleOp>() ||
        op->getParentOfType<mlir::gpu::LaunchOp>()) {
      return mlir::WalkResult::skip();
    }
    // Calls of the runtime's CUDA hooks (runtime/cuda.h) run on the host by design.
    auto call = mlir::dyn_cast<mlir::func::CallOp>(op);
    const bool hook = call && call.getCallee().starts_with("kiln_rt_cuda_");
    const bool host_work = (mlir::isa<mlir::scf::ParallelOp, mlir::scf::ForOp, mlir::scf::WhileOp,
                                      mlir::memref::LoadOp, mlir::memref::StoreOp,
                                      mlir::memref::CopyOp, mlir::func::CallOp>(op) &&
                            !hook) ||
                           op->getDialect()->getNamespace() == "linalg";
    if (!host_work) return mlir::WalkResult::advance();
    std::string where;
    llvm::raw_string_ostream os(where);
    os << op->getLoc();
    status = absl::UnimplementedError(
        absl::StrCat("'", op->getName().getStringRef().str(), "' at ", where,
                     " would run on the host: the CUDA target has no kernel for it yet"));
    return mlir::WalkResult::interrupt();
  });
  return status;
}

// `kernel`'s PTX compiled for `chip` by the toolkit's ptxas: the cubin's bytes, or Internal with
// ptxas's message.
absl::StatusOr<std::string> Ptxas(const std::string& ptxas, const std::string& chip,
                                  const GpuKernel& kernel) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/kiln-ptxas-XXXXXX";
  std::vector<char> name(base.begin(), base.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) return absl::InternalError("ptxas: cannot make a temporary file in " + base);
  ::close(fd);
  const std::string in = std::string(name.data()), ptx = in + ".ptx", out = in + ".cubin",
                    log = in + ".log";
  std::ofstream(ptx, std::ios::binary) << kernel.ptx;
  const std::string command =
      ptxas + " -arch=" + chip + " -O3 " + ptx + " -o " + out + " > " + log + " 2>&1";
  const int rc = std::system(command.c_str());
  auto read = [](const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  };
  const std::string cubin = read(out), message = read(log);
  for (const std::string& path : {in, ptx, out, log}) std::remove(path.c_str());
  if (rc != 0 || cubin.empty()) {
    return absl::InternalError("ptxas rejects kernel module " + kernel.name + ": " + message);
  }
  return cubin;
}

// A NUL-terminated byte string as an internal constant of the module (PTX or a cubin, kernel
// names).
mlir::LLVM::GlobalOp ByteString(mlir::ModuleOp module, const std::string& symbol,
                                llvm::StringRef bytes) {
  mlir::OpBuilder mb(module.getBodyRegion());
  const std::string text = bytes.str() + '\0';
  auto type = mlir::LLVM::LLVMArrayType::get(mb.getI8Type(), text.size());
  return mlir::LLVM::GlobalOp::create(mb, module.getLoc(), type, /*isConstant=*/true,
                                      mlir::LLVM::Linkage::Internal, symbol, mb.getStringAttr(text),
                                      /*alignment=*/64);
}

// Each gpu.launch_func becomes a call of the runtime's kiln_rt_cuda_launch(context, image, kernel,
// params, args) (runtime/cuda.h): the kernel's PTX and name are constants of the object, params
// (grid, block, shared memory) a constant array, args an array of pointers to slots holding each
// buffer's device address. The host function's one !llvm.ptr argument is the context. The
// gpu.binary ops go.
absl::Status LowerLaunches(mlir::ModuleOp module) {
  mlir::MLIRContext* ctx = module.getContext();
  auto ptr = mlir::LLVM::LLVMPointerType::get(ctx);
  std::map<std::string, mlir::LLVM::GlobalOp> images, names;
  for (auto binary : llvm::make_early_inc_range(module.getOps<mlir::gpu::BinaryOp>())) {
    auto object = mlir::cast<mlir::gpu::ObjectAttr>(binary.getObjectsAttr()[0]);
    images[binary.getSymName().str()] = ByteString(
        module, "kiln_gpu_image_" + binary.getSymName().str(), object.getObject().getValue());
  }
  std::vector<mlir::gpu::LaunchFuncOp> launches;
  module.walk([&](mlir::gpu::LaunchFuncOp op) { launches.push_back(op); });
  if (!launches.empty() && !module.lookupSymbol("kiln_rt_cuda_launch")) {
    mlir::OpBuilder mb(module.getBodyRegion());
    mlir::func::FuncOp::create(mb, module.getLoc(), "kiln_rt_cuda_launch",
                               mb.getFunctionType({ptr, ptr, ptr, ptr, ptr}, {}))
        .setPrivate();
  }
  for (size_t l = 0; l < launches.size(); ++l) {
    mlir::gpu::LaunchFuncOp launch = launches[l];
    auto func = launch->getParentOfType<mlir::func::FuncOp>();
    mlir::Value context;
    for (mlir::BlockArgument a : func.getArguments()) {
      if (a.getType() == mlir::Type(ptr)) context = a;
    }
    if (!context)
      return absl::InternalError("a function with kernels has no runtime context argument");
    mlir::OpBuilder b(launch);
    const mlir::Location loc = launch.getLoc();
    const std::string module_name = launch.getKernelModuleName().str();
    const std::string kernel = launch.getKernelName().str();
    if (!images.count(module_name))
      return absl::InternalError("no code for kernel module " + module_name);
    mlir::LLVM::GlobalOp& name = names[module_name + "::" + kernel];
    if (!name) name = ByteString(module, "kiln_gpu_kernel_" + std::to_string(names.size()), kernel);
    // Grid, block and shared memory are constants once the loops' bounds are static.
    std::vector<int64_t> params;
    mlir::gpu::KernelDim3 grid = launch.getGridSizeOperandValues(),
                          block = launch.getBlockSizeOperandValues();
    for (mlir::Value v : {grid.x, grid.y, grid.z, block.x, block.y, block.z}) {
      std::optional<int64_t> c = mlir::getConstantIntValue(v);
      if (!c)
        return absl::UnimplementedError(
            "a kernel launch whose grid or block size is not a constant");
      params.push_back(*c);
    }
    params.push_back(0);  // dynamic shared memory
    auto i64 = b.getI64Type();
    auto param_type = mlir::LLVM::LLVMArrayType::get(i64, params.size());
    mlir::OpBuilder mb(module.getBodyRegion());
    auto param_global = mlir::LLVM::GlobalOp::create(
        mb, loc, param_type, /*isConstant=*/true, mlir::LLVM::Linkage::Internal,
        "kiln_gpu_launch_" + std::to_string(l),
        mlir::DenseIntElementsAttr::get(
            mlir::RankedTensorType::get({static_cast<int64_t>(params.size())}, i64),
            llvm::ArrayRef<int64_t>(params)));
    // args[i] points to slots[i], which holds operand i's device address.
    const int64_t n = launch.getKernelOperands().size();
    mlir::Value count =
        mlir::LLVM::ConstantOp::create(b, loc, i64, b.getI64IntegerAttr(std::max<int64_t>(1, n)));
    mlir::Value slots = mlir::LLVM::AllocaOp::create(b, loc, ptr, i64, count);
    mlir::Value args = mlir::LLVM::AllocaOp::create(b, loc, ptr, ptr, count);
    for (int64_t i = 0; i < n; ++i) {
      mlir::Value operand = launch.getKernelOperands()[i];
      if (!mlir::isa<mlir::MemRefType>(operand.getType())) {
        return absl::UnimplementedError("a kernel argument that is not a buffer");
      }
      mlir::Value index = mlir::memref::ExtractAlignedPointerAsIndexOp::create(b, loc, operand);
      mlir::Value address = mlir::arith::IndexCastOp::create(b, loc, i64, index);
      mlir::Value slot = mlir::LLVM::GEPOp::create(
          b, loc, ptr, i64, slots, llvm::ArrayRef<mlir::LLVM::GEPArg>{static_cast<int32_t>(i)});
      mlir::LLVM::StoreOp::create(b, loc, address, slot);
      mlir::Value arg = mlir::LLVM::GEPOp::create(
          b, loc, ptr, ptr, args, llvm::ArrayRef<mlir::LLVM::GEPArg>{static_cast<int32_t>(i)});
      mlir::LLVM::StoreOp::create(b, loc, slot, arg);
    }
    mlir::Value image = mlir::LLVM::AddressOfOp::create(b, loc, images[module_name]);
    mlir::Value kernel_name = mlir::LLVM::AddressOfOp::create(b, loc, name);
    mlir::Value param_array = mlir::LLVM::AddressOfOp::create(b, loc, param_global);
    mlir::func::CallOp::create(b, loc, "kiln_rt_cuda_launch", mlir::TypeRange{},
                               mlir::ValueRange{context, image, kernel_name, param_array, args});
    launch->erase();
  }
  for (auto binary : llvm::make_early_inc_range(module.getOps<mlir::gpu::BinaryOp>()))
    binary->erase();
  module->removeAttr("gpu.container_module");
  return absl::OkStatus();
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

absl::StatusOr<std::vector<GpuKernel>> CompileTensorsToPtx(mlir::ModuleOp module,
                                                           const Target& target,
                                                           const GpuOptions& gpu,
                                                           PipelineOptions options) {
  if (!target.is_gpu()) {
    return absl::InternalError(
        absl::StrCat("CompileTensorsToPtx: target '", target.name, "' is not a GPU target"));
  }
  mlir::MLIRContext* context = module.getContext();
  options.split_reductions = true;
  {
    mlir::PassManager pm(context);
    AddTensorPasses(pm, options);
    AddGpuLoopPasses(pm);
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
    mlir::GpuNVVMAttachTargetOptions nvvm_target;
    nvvm_target.chip = target.gpu_chip;
    nvvm_target.optLevel = 3;
    nvvm_target.linkLibs.push_back(gpu.toolkit + "/nvvm/libdevice/libdevice.10.bc");
    pm.addPass(mlir::createGpuNVVMAttachTarget(nvvm_target));
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
  const std::string ptxas = gpu.toolkit + "/bin/ptxas";
  const bool cubin = gpu.cubin && ::access(ptxas.c_str(), X_OK) == 0;
  for (auto binary : module.getOps<mlir::gpu::BinaryOp>()) {
    auto object = mlir::cast<mlir::gpu::ObjectAttr>(binary.getObjectsAttr()[0]);
    kernels.push_back({binary.getSymName().str(), object.getObject().getValue().str()});
    if (!cubin) continue;
    KILN_ASSIGN_OR_RETURN(std::string code, Ptxas(ptxas, target.gpu_chip, kernels.back()));
    binary.setObjectsAttr(mlir::ArrayAttr::get(
        context,
        {mlir::gpu::ObjectAttr::get(object.getTarget(), mlir::gpu::CompilationTarget::Binary,
                                    mlir::StringAttr::get(context, code), object.getProperties(),
                                    object.getKernels())}));
  }
  return kernels;
}

absl::Status LowerGpuHostToLlvmDialect(mlir::ModuleOp module, const PipelineOptions& options) {
  KILN_RETURN_IF_ERROR(LowerLaunches(module));
  return LowerToLlvmDialect(module, options);
}

}  // namespace kiln
