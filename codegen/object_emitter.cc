#include "codegen/object_emitter.h"

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "graph/status_macros.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CodeGen.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Target/LLVMIR/Export.h"

namespace kiln {
namespace {

void InitializeLlvmTargets() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
  });
}

// "native" becomes the host's CPU name and feature string; anything else passes through.
void ResolveCpu(const Target& target, std::string& cpu, std::string& features) {
  cpu = target.cpu;
  features = target.features;
  if (cpu != "native") return;
  cpu = llvm::sys::getHostCPUName().str();
  std::string host_features;
  for (const auto& f : llvm::sys::getHostCPUFeatures()) {
    absl::StrAppend(&host_features, host_features.empty() ? "" : ",", f.getValue() ? "+" : "-",
                    f.getKey().str());
  }
  features = features.empty() ? host_features : absl::StrCat(host_features, ",", features);
}

// A target machine for `target`, or InvalidArgument naming an unknown triple or CPU.
absl::StatusOr<std::unique_ptr<llvm::TargetMachine>> MakeTargetMachine(const Target& target,
                                                                       std::string& cpu,
                                                                       std::string& features) {
  InitializeLlvmTargets();
  llvm::Triple triple(target.triple);
  std::string error;
  const llvm::Target* llvm_target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (llvm_target == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown target triple '", target.triple, "': ", error));
  }
  ResolveCpu(target, cpu, features);
  llvm::TargetOptions options;
  if (target.hard_float_abi) options.FloatABIType = llvm::FloatABI::Hard;
  std::unique_ptr<llvm::TargetMachine> machine(
      llvm_target->createTargetMachine(triple, cpu, features, options, llvm::Reloc::PIC_,
                                       std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (machine == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create a target machine for '", target.triple, "' cpu '", cpu, "'"));
  }
  if (!machine->getMCSubtargetInfo()->isCPUStringValid(cpu)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown CPU '", cpu, "' for target '", target.triple, "'"));
  }
  return machine;
}

}  // namespace

absl::StatusOr<std::string> EmitObject(mlir::ModuleOp module, const Target& target) {
  return EmitCode(module, target, CodeKind::kObject);
}

absl::Status CheckTarget(const Target& target) {
  std::string cpu, features;
  return MakeTargetMachine(target, cpu, features).status();
}

absl::StatusOr<std::string> EmitCode(mlir::ModuleOp module, const Target& target, CodeKind kind) {
  std::string cpu, features;
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<llvm::TargetMachine> machine,
                        MakeTargetMachine(target, cpu, features));
  llvm::Triple triple(target.triple);

  llvm::LLVMContext context;
  std::unique_ptr<llvm::Module> llvm_module = mlir::translateModuleToLLVMIR(module, context);
  if (llvm_module == nullptr) {
    return absl::InvalidArgumentError("module does not translate to LLVM IR (not LLVM dialect?)");
  }
  llvm_module->setTargetTriple(triple);
  llvm_module->setDataLayout(machine->createDataLayout());
  // Every function states its CPU and features, as clang writes them: LLVM's passes read the
  // subtarget per function, and a function without them would be tuned for a generic CPU.
  for (llvm::Function& function : *llvm_module) {
    if (function.isDeclaration()) continue;
    function.addFnAttr("target-cpu", cpu);
    if (!features.empty()) function.addFnAttr("target-features", features);
  }

  // LLVM's standard O3 module pipeline, tuned for this target machine.
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder builder(machine.get());
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3).run(*llvm_module, mam);

  std::string object;
  if (kind == CodeKind::kLlvmIr) {
    llvm::raw_string_ostream os(object);
    llvm_module->print(os, nullptr);
    return object;
  }
  {
    // The object writer seeks back to patch headers, so it needs a buffered stream; it is flushed
    // into `object` when it goes out of scope.
    llvm::raw_string_ostream stream(object);
    llvm::buffer_ostream buffered(stream);
    llvm::legacy::PassManager codegen;
    if (machine->addPassesToEmitFile(codegen, buffered, nullptr,
                                     kind == CodeKind::kAssembly
                                         ? llvm::CodeGenFileType::AssemblyFile
                                         : llvm::CodeGenFileType::ObjectFile)) {
      return absl::InternalError(
          absl::StrCat("LLVM cannot emit object files for '", target.triple, "'"));
    }
    codegen.run(*llvm_module);
  }
  return object;
}

}  // namespace kiln
