// Writes `.kiln` bundles (the format: runtime/kiln_bundle.h): signatures with their compiled code,
// and the weights they share, in one file the runtime maps and runs.
#ifndef KILN_CODEGEN_BUNDLE_H_
#define KILN_CODEGEN_BUNDLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/kiln_model.h"

namespace kiln {

struct BundleSignature {
  std::string name;         // "serving_default"
  std::string description;  // the model description (CompiledGraph::description)
  std::string code;         // its object (CompiledGraph::object)
};

struct BundleWeight {
  std::string name;
  kiln_dtype dtype;
  std::vector<int64_t> dims;
  std::string data;  // row-major, little-endian
};

// The bytes of a bundle. Signatures may share a name (the same model at several batch sizes).
// InvalidArgument for a signature given twice, duplicate weight names, or a weight
// whose data size disagrees with its dtype and dims.
absl::StatusOr<std::string> SerializeBundle(const std::vector<BundleSignature>& signatures,
                                            const std::vector<BundleWeight>& weights);

}  // namespace kiln

#endif  // KILN_CODEGEN_BUNDLE_H_
