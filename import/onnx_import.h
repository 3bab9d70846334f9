// ONNX import: an ONNX model (ModelProto, opset 13 or newer) as a kiln::Graph, so that the
// interpreter, autodiff, the optimizers, the compiler and bundles all apply to it. Each ONNX op
// has one converter (onnx_import.cc's table) to Kiln ops; the initializers become Variables
// holding the model's weights (trainable: fine-tuning appends a TrainStep as for any graph). An
// unsupported op, attribute or dtype is an error naming the ONNX node, its op type and opset.
#ifndef KILN_IMPORT_ONNX_IMPORT_H_
#define KILN_IMPORT_ONNX_IMPORT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace kiln {

struct OnnxImportOptions {
  // A symbolic first dimension of a graph input (e.g. torch.onnx.export's dynamic batch) becomes
  // `batch`; 0: such an input is an error that says so.
  int64_t batch = 0;
  // Graph inputs given values: they become constants, so that an input an op needs as a constant
  // (a Reshape's shape, a reduction's axes) can be one: the graph is specialized to the values.
  std::map<std::string, TensorData> bind;
};

// Reads the model at `path` (its external data, if any, from beside it) and builds its graph.
absl::StatusOr<std::unique_ptr<Graph>> ImportOnnx(const std::string& path,
                                                  const OnnxImportOptions& options = {});

// The model's graph inputs (not its initializers), in order: what a run feeds.
absl::StatusOr<std::vector<std::string>> OnnxGraphInputs(const std::string& path);

// A serialized onnx.TensorProto (e.g. an ONNX test's input_0.pb) as Kiln's typed tensor.
absl::StatusOr<TensorData> ReadOnnxTensor(const std::string& path);

// The ONNX op types the importer converts, sorted.
std::vector<std::string> OnnxImportedOps();

}  // namespace kiln

#endif  // KILN_IMPORT_ONNX_IMPORT_H_
