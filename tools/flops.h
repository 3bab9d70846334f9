// A rough count of floating-point operations per graph node, for `kilnc inspect`.
//
// The model, per node:
//   MatMul, BatchMatMul                    2·m·n·k per batch element (2 · output elements · k)
//   Conv2D, Conv2DBackpropInput/Filter     2 · forward output elements · kh·kw·cin (a backprop
//   costs what
//                                          the forward convolution does)
//   elementwise math, comparisons, Cast    1 per output element
//   reductions (Reduce*, ArgMax)           1 per input element
//   arguments, constants and data movement 0 (Placeholder, Variable: any argument op; Const,
//                                          Identity, Reshape, ...)
// Any other op is "not modelled": it counts 0 and EstimateGraphFlops lists it.
// Counts saturate at INT64_MAX instead of overflowing.
#ifndef KILN_TOOLS_FLOPS_H_
#define KILN_TOOLS_FLOPS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/types.h"

namespace kiln {

// FLOPs of one `op` node with these input and output types and attributes, or nullopt when the op
// is not modelled (or its inputs are not what the model expects).
std::optional<int64_t> EstimateFlops(const std::string& op, const std::vector<TensorType>& inputs,
                                     const std::vector<TensorType>& outputs, const AttrMap& attrs);

// The same for a node of a graph.
std::optional<int64_t> NodeFlops(const Graph& graph, const Node& node);

struct GraphFlops {
  int64_t total = 0;
  std::map<std::string, int> not_modelled;  // op -> number of nodes
};
GraphFlops EstimateGraphFlops(const Graph& graph);

}  // namespace kiln

#endif  // KILN_TOOLS_FLOPS_H_
