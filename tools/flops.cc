#include "tools/flops.h"

#include <limits>
#include <set>

#include "graph/op_registry.h"

namespace kiln {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

int64_t Mul(int64_t a, int64_t b) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return kMax;
  return r;
}

int64_t Add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return kMax;
  return r;
}

int64_t Elements(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape.dims()) n = Mul(n, d);
  return n;
}

bool BoolAttr(const AttrMap& attrs, const std::string& name) {
  auto it = attrs.find(name);
  return it != attrs.end() && std::holds_alternative<bool>(it->second) &&
         std::get<bool>(it->second);
}

const std::set<std::string>& FreeOps() {
  static const auto* ops = new std::set<std::string>{
      "Const",  "Identity", "StopGradient", "Reshape", "BroadcastTo", "Transpose",
      "Concat", "Slice",    "Split",        "Pad",     "Gather",      "ZerosLike"};
  return *ops;
}

const std::set<std::string>& ElementwiseOps() {
  static const auto* ops = new std::set<std::string>{
      "Neg",     "Abs",        "Sign", "Exp",     "Log",        "Log1p",      "Sqrt",   "Rsqrt",
      "Square",  "Reciprocal", "Tanh", "Sigmoid", "Relu",       "Gelu",       "Erf",    "Sin",
      "Cos",     "Floor",      "Add",  "Sub",     "Mul",        "Div",        "Pow",    "Maximum",
      "Minimum", "Equal",      "Less", "Greater", "LogicalAnd", "LogicalNot", "Select", "Cast"};
  return *ops;
}

const std::set<std::string>& ReductionOps() {
  static const auto* ops = new std::set<std::string>{"ReduceSum", "ReduceMean", "ReduceMax",
                                                     "ReduceMin", "ReduceProd", "ArgMax"};
  return *ops;
}

// 2 · forward output elements · kh·kw·cin, for an HWIO filter shape.
std::optional<int64_t> ConvFlops(const Shape& forward_output, const Shape& filter) {
  if (filter.rank() != 4) return std::nullopt;
  return Mul(Mul(2, Elements(forward_output)), Mul(Mul(filter[0], filter[1]), filter[2]));
}

}  // namespace

std::optional<int64_t> EstimateFlops(const std::string& op, const std::vector<TensorType>& inputs,
                                     const std::vector<TensorType>& outputs, const AttrMap& attrs) {
  // Arguments (Placeholder, Variable) are bound by the caller: nothing to compute.
  const OpDef* def = OpRegistry::Find(op);
  if (FreeOps().count(op) || (def != nullptr && def->is_argument())) return 0;
  if (ElementwiseOps().count(op)) {
    int64_t n = 0;
    for (const TensorType& t : outputs) n = Add(n, Elements(t.shape));
    return n;
  }
  if (ReductionOps().count(op)) {
    if (inputs.empty()) return std::nullopt;
    return Elements(inputs[0].shape);
  }
  if (op == "MatMul" || op == "BatchMatMul") {
    if (inputs.size() != 2 || outputs.size() != 1 || inputs[0].shape.rank() < 2)
      return std::nullopt;
    const Shape& a = inputs[0].shape;
    const int64_t k = BoolAttr(attrs, "transpose_a") ? a[a.rank() - 2] : a[a.rank() - 1];
    return Mul(Mul(2, Elements(outputs[0].shape)), k);
  }
  if (op == "Conv2D") {  // (input, filter) -> output
    if (inputs.size() != 2 || outputs.size() != 1) return std::nullopt;
    return ConvFlops(outputs[0].shape, inputs[1].shape);
  }
  if (op == "Conv2DBackpropInput") {  // (grad of the output, filter) -> grad of the input
    if (inputs.size() != 2) return std::nullopt;
    return ConvFlops(inputs[0].shape, inputs[1].shape);
  }
  if (op == "Conv2DBackpropFilter") {  // (input, grad of the output) -> grad of the filter
    if (inputs.size() != 2 || outputs.size() != 1) return std::nullopt;
    return ConvFlops(inputs[1].shape, outputs[0].shape);
  }
  return std::nullopt;
}

std::optional<int64_t> NodeFlops(const Graph& graph, const Node& node) {
  std::vector<TensorType> inputs;
  for (const OutputRef& in : node.inputs) inputs.push_back(graph.type(in));
  return EstimateFlops(node.op_name(), inputs, node.outputs, node.attrs);
}

GraphFlops EstimateGraphFlops(const Graph& graph) {
  GraphFlops result;
  for (const Node& node : graph.nodes()) {
    std::optional<int64_t> flops = NodeFlops(graph, node);
    if (flops) {
      result.total = Add(result.total, *flops);
    } else {
      ++result.not_modelled[node.op_name()];
    }
  }
  return result;
}

}  // namespace kiln
