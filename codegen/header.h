// The generated C++ header of a compiled model, rendered from its description
// (runtime/kiln_model.h) through templates, tfcompile-style: the C ABI of the object's functions
// and a class that owns every array. A CPU target's class holds its arrays; a GPU target's owns
// device arrays with host copies and replays its step from a CUDA graph. Both classes have the same
// interface (a default constructor, Reset, Run, Set, an accessor per array,
// inputs/variables/outputs tables), so one app compiles against either.
#ifndef KILN_CODEGEN_HEADER_H_
#define KILN_CODEGEN_HEADER_H_

#include <string>

#include "absl/status/statusor.h"

namespace kiln {

// The header for the model `description` (as kiln_<name>_model_description returns it) describes;
// `source` names the graph file in its first line. InvalidArgument for a malformed description.
absl::StatusOr<std::string> RenderHeader(const std::string& description, const std::string& source);

// "mlp_train" → "MlpTrain": a model's class name, and the base of an argument's constants.
std::string CamelCase(const std::string& snake);

}  // namespace kiln

#endif  // KILN_CODEGEN_HEADER_H_
