// The compiled model's description (runtime/kiln_model.h) on the compiler's side: built from what
// the compiler knows, written as the versioned byte string the runtime parses, embedded into the
// object (a ".kiln.model" section and the query function kiln_<name>_model_description), and read
// back from an object file by tools.
#ifndef KILN_CODEGEN_MODEL_DESCRIPTION_H_
#define KILN_CODEGEN_MODEL_DESCRIPTION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/types.h"
#include "runtime/kiln_model.h"

namespace mlir {
class ModuleOp;
}  // namespace mlir

namespace kiln {

struct ModelDescription {
  struct Argument {
    std::string name;        // in the graph
    std::string identifier;  // in the generated headers
    kiln_arg_role role;
    TensorType type;
  };
  std::string name;
  std::string fingerprint;
  std::string target;  // spec
  bool training = false;
  int64_t arena_bytes = 0;
  std::string init_entry, run_entry, prepare_entry;
  std::vector<Argument> arguments;  // inputs, variables, outputs
  std::vector<std::string> hooks;   // runtime hooks the code calls
};

// The description as runtime/kiln_model.h lays it out (version KILN_MODEL_ABI_VERSION).
std::string SerializeModelDescription(const ModelDescription& description);

// The section an object keeps its description in.
inline constexpr char kModelSection[] = ".kiln.model";

// Adds `serialized` to `module` (LLVM dialect) as a constant in kModelSection and the query
// function `const void* kiln_<name>_model_description(uint64_t* size)` that returns it.
void EmbedModelDescription(mlir::ModuleOp module, const std::string& name,
                           const std::string& serialized);

// The runtime's number for `dtype` (kiln_dtype numbers the dtypes as graph files do, DType's
// order from 1).
kiln_dtype RuntimeDType(DType dtype);

// Adds `<run>_packed(void** arrays, kiln_context* context, void* arena)` to `module` (LLVM
// dialect), which calls the function `run` with arrays[0..n) as its array arguments: one signature
// for every model, so that a loader (runtime/kiln_bundle.h) calls any model without knowing its
// arguments at compile time. InvalidArgument if `run` is missing or takes other than pointers.
absl::Status AddPackedEntry(mlir::ModuleOp module, const std::string& run);

// The runtime hooks (kiln_rt_*) `module` (LLVM dialect) declares, sorted: what its code calls.
std::vector<std::string> RuntimeHooksCalled(mlir::ModuleOp module);

// The description in an object file (ELF or wasm) of any target, from its kModelSection, without
// running anything. InvalidArgument when `object` is not an object file; NotFound when it has no
// description.
absl::StatusOr<std::string> ReadModelDescription(const std::string& object);

}  // namespace kiln

#endif  // KILN_CODEGEN_MODEL_DESCRIPTION_H_
