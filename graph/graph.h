// The symbolic graph and the C++ builder API's handles.
//
//   kiln::Graph g;
//   kiln::Tensor x = kiln::ops::Placeholder(g, "x", kiln::DType::kF32, {128, 784});
//   kiln::Tensor y = kiln::ops::Relu(kiln::ops::MatMul(x, w) + b);
//   if (!g.ok()) std::cerr << g.status();   // "MatMul 'MatMul' (model.cc:42): inner dimensions
//   ..."
//
// Nodes are appended in topological order (an op's inputs exist before it), so a node's id is a
// valid execution order. Shapes and dtypes are inferred as each node is added. Errors are sticky:
// the first one is kept in status(), later ops on a failed graph return invalid handles and report
// nothing more. A Graph is not thread-safe; build each graph on one thread.
#ifndef KILN_GRAPH_GRAPH_H_
#define KILN_GRAPH_GRAPH_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "graph/types.h"

namespace kiln {

class Graph;
struct OpDef;

// Where a node was created in the user's code; captured with default arguments at each builder
// call.
struct SourceLoc {
  const char* file = "";
  int line = 0;
  static SourceLoc Current(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return SourceLoc{file, line};
  }
  // "model.cc:42" (basename only), or "" when unknown.
  std::string ToString() const;
};

// A node attribute value. Tensors are TensorData: typed bytes in a shared buffer, so copying an
// attribute map copies no elements.
using AttrValue = std::variant<int64_t, double, bool, std::string, DType, Shape, TensorData,
                               std::vector<int64_t>, std::vector<double>, std::vector<std::string>>;
using AttrMap = std::map<std::string, AttrValue>;

// Reference to one output of one node.
struct OutputRef {
  int node = -1;
  int index = 0;
  friend bool operator==(const OutputRef& a, const OutputRef& b) {
    return a.node == b.node && a.index == b.index;
  }
  friend bool operator<(const OutputRef& a, const OutputRef& b) {
    return a.node != b.node ? a.node < b.node : a.index < b.index;
  }
};

// A handle to a symbolic tensor: one output of a node in a Graph. Cheap to copy; valid while its
// Graph lives. A handle from a failed op is invalid (valid() is false) but still knows its graph.
class Tensor {
 public:
  Tensor() = default;
  Tensor(Graph* graph, OutputRef ref) : graph_(graph), ref_(ref) {}

  bool valid() const { return graph_ != nullptr && ref_.node >= 0; }
  Graph* graph() const { return graph_; }
  OutputRef ref() const { return ref_; }
  int node() const { return ref_.node; }
  int index() const { return ref_.index; }

  // Static type; f32[] for an invalid handle.
  const TensorType& type() const;
  DType dtype() const { return type().dtype; }
  const Shape& shape() const { return type().shape; }
  int rank() const { return shape().rank(); }
  // "dense1/MatMul" for output 0, "split:1" otherwise.
  std::string name() const;

 private:
  Graph* graph_ = nullptr;
  OutputRef ref_;
};

struct Node {
  int id = -1;
  std::string name;
  const OpDef* op = nullptr;
  std::vector<OutputRef> inputs;
  AttrMap attrs;  // complete: defaults filled in
  std::vector<TensorType> outputs;
  std::string source;  // "model.cc:42" or ""

  // Typed attribute access; the attribute exists with this type once the node is in a graph.
  template <typename T>
  const T& attr(const std::string& name) const {
    return std::get<T>(attrs.at(name));
  }
  const std::string& op_name() const;
  // "Gather 'embed' (model.cc:12)": how messages name this node (DescribeNode).
  std::string Describe() const;
};

// "Gather 'embed' (model.cc:12)": how every message names a node, the source only where known.
std::string DescribeNode(const std::string& op, const std::string& name, const std::string& source);

// Training metadata: what a training step computes and updates (filled by optimizers).
struct TrainingInfo {
  Tensor loss;
  std::vector<int> parameters;  // Variable nodes being trained
  struct Slot {
    int variable;       // the parameter
    std::string name;   // "m", "v", "momentum"
    int slot_variable;  // the Variable node holding it
  };
  std::vector<Slot> slots;
  // New values for variables (parameters, slots, step counters), all computed from the old values
  // and assigned together at the end of a step.
  std::vector<std::pair<int, Tensor>> updates;
  std::string optimizer;
  std::string learning_rate;  // the Placeholder feeding the learning rate, if any
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Appends a node and returns its id, or -1 if the graph already failed, an input is invalid, or
  // the op rejects its inputs/attributes (the error is then recorded). `name` is made unique within
  // the current name scope; empty means the op's name.
  int AddNode(const std::string& op, const std::vector<Tensor>& inputs, AttrMap attrs,
              SourceLoc loc, const std::string& name = "");
  // Output `index` of node `id` (an invalid handle when id < 0).
  Tensor Output(int id, int index = 0) { return Tensor(this, OutputRef{id, index}); }

  const std::vector<Node>& nodes() const { return nodes_; }
  const Node& node(int id) const { return nodes_[id]; }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  const Node* FindNode(const std::string& name) const;
  const TensorType& type(OutputRef ref) const { return nodes_[ref.node].outputs[ref.index]; }

  // The first error, or OK.
  const absl::Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }
  // Records an error (only the first one is kept).
  void RecordError(absl::Status status);

  // Named graph outputs (what a compiled graph returns).
  void AddOutput(const std::string& name, Tensor tensor, SourceLoc loc = SourceLoc::Current());
  const std::vector<std::pair<std::string, OutputRef>>& outputs() const { return outputs_; }

  TrainingInfo& training() { return training_; }
  const TrainingInfo& training() const { return training_; }

  // The scope prefix new node names get ("dense1/"), see NameScope.
  const std::string& scope() const { return scope_; }
  // When set, nodes record this source instead of their builder call's (autodiff points gradient
  // nodes at the forward op's line).
  void set_source_override(std::string source) { source_override_ = std::move(source); }
  const std::string& source_override() const { return source_override_; }

 private:
  friend class NameScope;
  std::string UniqueName(const std::string& base);

  std::vector<Node> nodes_;
  std::map<std::string, int> by_name_;
  std::map<std::string, int> name_counts_;
  std::vector<std::pair<std::string, OutputRef>> outputs_;
  TrainingInfo training_;
  absl::Status status_;
  std::string scope_;
  std::string source_override_;
};

// Prefixes the names of nodes created while it lives: { NameScope s(g, "dense1"); ... } gives
// "dense1/MatMul". Scopes nest; an `absolute` scope replaces the enclosing prefix (an empty
// absolute scope is the root, for graph-wide nodes such as global_step).
class NameScope {
 public:
  NameScope(Graph& graph, const std::string& name, bool absolute = false);
  ~NameScope();
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;

 private:
  Graph& graph_;
  std::string saved_;
};

}  // namespace kiln

#endif  // KILN_GRAPH_GRAPH_H_
