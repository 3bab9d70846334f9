#include "proto/graph_def.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/io/zero_copy_stream_impl.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/text_format.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"

namespace kiln {
namespace {

using absl::StrCat;

// Loader limits. No real graph comes near them; they keep shape arithmetic in the graph library and
// in tools far from int64 overflow whatever a file says.
constexpr int64_t kMaxElements = int64_t{1} << 48;   // per tensor, and per dimension
constexpr int64_t kMaxListValue = int64_t{1} << 48;  // |value| in a list(int) attribute
// i64 tensor values a graph file holds: those the reference interpreter, which computes in doubles
// (Literal), holds exactly, so that it and compiled code read the same values.
constexpr int64_t kMaxExactInt = int64_t{1} << 53;

absl::Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

// "Op 'name' (source): ", the prefix Graph::AddNode gives its errors.
std::string NodePrefix(const proto::NodeDef& node) {
  return StrCat(DescribeNode(node.op().empty() ? "node" : node.op(), node.name(), node.source()),
                ": ");
}

// ---- DataType ----

proto::DataType DataTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kF32: return proto::DT_F32;
    case DType::kF64: return proto::DT_F64;
    case DType::kF16: return proto::DT_F16;
    case DType::kBF16: return proto::DT_BF16;
    case DType::kI8: return proto::DT_I8;
    case DType::kI32: return proto::DT_I32;
    case DType::kI64: return proto::DT_I64;
    case DType::kBool: return proto::DT_BOOL;
  }
  return proto::DT_INVALID;
}

absl::StatusOr<DType> DataTypeFromProto(int value) {
  switch (value) {
    case proto::DT_F32: return DType::kF32;
    case proto::DT_F64: return DType::kF64;
    case proto::DT_F16: return DType::kF16;
    case proto::DT_BF16: return DType::kBF16;
    case proto::DT_I8: return DType::kI8;
    case proto::DT_I32: return DType::kI32;
    case proto::DT_I64: return DType::kI64;
    case proto::DT_BOOL: return DType::kBool;
    default: break;
  }
  return Invalid(StrCat("invalid dtype ", value,
                        " (expected DT_F32, DT_F64, DT_F16, DT_BF16, DT_I8, ",
                        "DT_I32, DT_I64 or DT_BOOL)"));
}

// ---- Shape ----

// Number of elements of `dims` counting each -1 as 1, or -1 when it passes kMaxElements.
int64_t BoundedElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    const int64_t e = d < 0 ? 1 : d;
    if (e > kMaxElements) return -1;
    if (e != 0 && n > kMaxElements / e) return -1;
    n *= e;
  }
  return n > kMaxElements ? -1 : n;
}

// A shape attribute: dimensions >= 0, or -1 (Reshape's inferred dimension).
absl::StatusOr<Shape> ShapeFromProto(const proto::Shape& shape, bool allow_unknown) {
  std::vector<int64_t> dims(shape.dims().begin(), shape.dims().end());
  for (int64_t d : dims) {
    if (d < 0 && !(allow_unknown && d == -1)) {
      return Invalid(StrCat("shape ", Shape(dims).ToString(), " has a negative dimension"));
    }
  }
  if (BoundedElements(dims) < 0) {
    return Invalid(StrCat("shape ", Shape(dims).ToString(), " has more than 2^48 elements"));
  }
  return Shape(std::move(dims));
}

void ShapeToProto(const Shape& shape, proto::Shape* out) {
  for (int64_t d : shape.dims()) out->add_dims(d);
}

// ---- Tensor (TensorData) ----

// The first i64 element outside +-kMaxExactInt, or -1.
int64_t FirstInexactI64(std::string_view bytes) {
  for (size_t i = 0; i + 8 <= bytes.size(); i += 8) {
    int64_t v;
    std::memcpy(&v, bytes.data() + i, 8);
    if (v > kMaxExactInt || v < -kMaxExactInt) return static_cast<int64_t>(i / 8);
  }
  return -1;
}

absl::Status I64RangeError(std::string_view bytes, int64_t element) {
  int64_t v;
  std::memcpy(&v, bytes.data() + element * 8, 8);
  return Invalid(StrCat("i64 tensor value ", v,
                        " is outside the range a graph file stores (+-2^53, what the reference "
                        "interpreter's doubles hold exactly)"));
}

absl::Status TensorToProto(const TensorData& tensor, proto::Tensor* out) {
  out->set_dtype(DataTypeToProto(tensor.dtype()));
  ShapeToProto(tensor.shape(), out->mutable_shape());
  const std::string_view bytes = tensor.bytes();
  if (tensor.dtype() == DType::kI64) {
    if (const int64_t bad = FirstInexactI64(bytes); bad >= 0) return I64RangeError(bytes, bad);
  }
  // Moved in: set_raw_data(data, size) would build a temporary string and copy it (protobuf 3.21).
  out->set_raw_data(std::string(bytes));
  return absl::OkStatus();
}

// A version-1 tensor: values by their dtype's kind, as doubles or int64 (graph.proto).
absl::StatusOr<TensorData> TensorFromV1(const proto::Tensor& tensor, DType dtype, Shape shape) {
  if (!tensor.raw_data().empty()) {
    return Invalid(
        StrCat("version-1 tensors hold their values in float_values or int_values, not "
               "raw_data (version 2)"));
  }
  const int64_t n = shape.NumElements();
  const bool is_float = IsFloat(dtype);
  const int64_t count = is_float ? tensor.float_values_size() : tensor.int_values_size();
  if ((is_float ? tensor.int_values_size() : tensor.float_values_size()) != 0) {
    return Invalid(StrCat(DTypeName(dtype), " tensor must hold its values in ",
                          is_float ? "float_values" : "int_values", ", not ",
                          is_float ? "int_values" : "float_values"));
  }
  if (count != 0 && count != n) {
    return Invalid(StrCat(TensorType{dtype, shape}.ToString(), " tensor has ", count,
                          " values, expected ", n, " (or none)"));
  }
  if (count == 0) return TensorData::FromBytes(dtype, std::move(shape), "");
  if (is_float) {
    // Rounded to the dtype: what every reader of the value saw (a version-1 writer stored doubles).
    return TensorData::FromFunction(dtype, std::move(shape),
                                    [&](int64_t i) { return tensor.float_values(i); });
  }
  int64_t lo = -kMaxExactInt, hi = kMaxExactInt;
  switch (dtype) {
    case DType::kI8:
      lo = std::numeric_limits<int8_t>::min();
      hi = std::numeric_limits<int8_t>::max();
      break;
    case DType::kI32:
      lo = std::numeric_limits<int32_t>::min();
      hi = std::numeric_limits<int32_t>::max();
      break;
    case DType::kBool:
      lo = 0;
      hi = 1;
      break;
    default: break;
  }
  for (int64_t v : tensor.int_values()) {
    if (v < lo || v > hi) {
      return Invalid(
          StrCat(DTypeName(dtype), " tensor value ", v, " is out of range [", lo, ", ", hi, "]"));
    }
  }
  return TensorData::FromFunction(dtype, std::move(shape), [&](int64_t i) {
    return static_cast<double>(tensor.int_values(i));
  });
}

// A version-2 tensor: raw little-endian elements, which are moved out of `tensor`, not copied.
absl::StatusOr<TensorData> TensorFromV2(proto::Tensor* tensor, DType dtype, Shape shape) {
  if (tensor->float_values_size() != 0 || tensor->int_values_size() != 0) {
    return Invalid(StrCat("version-2 tensors hold their values in raw_data, not ",
                          tensor->float_values_size() != 0 ? "float_values" : "int_values",
                          " (version 1)"));
  }
  const std::string_view bytes = tensor->raw_data();
  const int64_t n = shape.NumElements();
  const int64_t width = DTypeSize(dtype);
  // n <= 2^48 (ShapeFromProto), so n * width cannot overflow.
  if (!bytes.empty() && static_cast<int64_t>(bytes.size()) != n * width) {
    return Invalid(StrCat(TensorType{dtype, shape}.ToString(), " tensor has ", bytes.size(),
                          " bytes of raw_data, expected ", n * width, " (", n, " elements of ",
                          width, " byte", width == 1 ? "" : "s", ") or none"));
  }
  if (dtype == DType::kI64) {
    if (const int64_t bad = FirstInexactI64(bytes); bad >= 0) return I64RangeError(bytes, bad);
  }
  return TensorData::FromBytes(dtype, std::move(shape), std::move(*tensor->mutable_raw_data()));
}

// `tensor` is left without its raw_data.
absl::StatusOr<TensorData> TensorFromProto(proto::Tensor* tensor, int version) {
  KILN_ASSIGN_OR_RETURN(DType dtype, DataTypeFromProto(tensor->dtype()));
  KILN_ASSIGN_OR_RETURN(Shape shape, ShapeFromProto(tensor->shape(), /*allow_unknown=*/false));
  if (version == 1) return TensorFromV1(*tensor, dtype, std::move(shape));
  return TensorFromV2(tensor, dtype, std::move(shape));
}

// ---- AttrValue ----

absl::Status AttrToProto(const AttrValue& value, proto::AttrValue* out) {
  switch (AttrTypeOf(value)) {
    case AttrType::kInt: out->set_i(std::get<int64_t>(value)); break;
    case AttrType::kFloat: out->set_f(std::get<double>(value)); break;
    case AttrType::kBool: out->set_b(std::get<bool>(value)); break;
    case AttrType::kString: out->set_s(std::get<std::string>(value)); break;
    case AttrType::kDType: out->set_dtype(DataTypeToProto(std::get<DType>(value))); break;
    case AttrType::kShape: ShapeToProto(std::get<Shape>(value), out->mutable_shape()); break;
    case AttrType::kTensor:
      return TensorToProto(std::get<TensorData>(value), out->mutable_tensor());
    // List messages are set even when empty: the oneof says which kind of value this is.
    case AttrType::kInts:
      out->mutable_ints();
      for (int64_t v : std::get<std::vector<int64_t>>(value)) out->mutable_ints()->add_values(v);
      break;
    case AttrType::kFloats:
      out->mutable_floats();
      for (double v : std::get<std::vector<double>>(value)) out->mutable_floats()->add_values(v);
      break;
    case AttrType::kStrings:
      out->mutable_strings();
      for (const std::string& v : std::get<std::vector<std::string>>(value)) {
        out->mutable_strings()->add_values(v);
      }
      break;
  }
  return absl::OkStatus();
}

// A tensor's raw_data is moved out of `mutable_value`, not copied.
absl::StatusOr<AttrValue> AttrFromProto(proto::AttrValue* mutable_value, int version) {
  const proto::AttrValue& value = *mutable_value;
  switch (value.value_case()) {
    case proto::AttrValue::kI: return AttrValue(value.i());
    case proto::AttrValue::kF: return AttrValue(value.f());
    case proto::AttrValue::kB: return AttrValue(value.b());
    case proto::AttrValue::kS: return AttrValue(value.s());
    case proto::AttrValue::kDtype: {
      KILN_ASSIGN_OR_RETURN(DType dtype, DataTypeFromProto(value.dtype()));
      return AttrValue(dtype);
    }
    case proto::AttrValue::kShape: {
      KILN_ASSIGN_OR_RETURN(Shape shape, ShapeFromProto(value.shape(), /*allow_unknown=*/true));
      return AttrValue(std::move(shape));
    }
    case proto::AttrValue::kTensor: {
      KILN_ASSIGN_OR_RETURN(TensorData tensor,
                            TensorFromProto(mutable_value->mutable_tensor(), version));
      return AttrValue(std::move(tensor));
    }
    case proto::AttrValue::kInts: {
      std::vector<int64_t> ints(value.ints().values().begin(), value.ints().values().end());
      for (int64_t v : ints) {
        if (v > kMaxListValue || v < -kMaxListValue) {
          return Invalid(StrCat("list(int) value ", v, " is out of range (|value| <= 2^48)"));
        }
      }
      return AttrValue(std::move(ints));
    }
    case proto::AttrValue::kFloats:
      return AttrValue(
          std::vector<double>(value.floats().values().begin(), value.floats().values().end()));
    case proto::AttrValue::kStrings:
      return AttrValue(std::vector<std::string>(value.strings().values().begin(),
                                                value.strings().values().end()));
    case proto::AttrValue::VALUE_NOT_SET: break;
  }
  return Invalid("no value set");
}

// ---- Tensor references ----

std::string RefToString(const Graph& graph, OutputRef ref) {
  const std::string& name = graph.node(ref.node).name;
  return ref.index == 0 ? name : StrCat(name, ":", ref.index);
}

struct ParsedRef {
  std::string node;
  int index = 0;
};

absl::StatusOr<ParsedRef> ParseRef(const std::string& ref) {
  ParsedRef parsed;
  const size_t colon = ref.rfind(':');
  if (colon == std::string::npos) {
    parsed.node = ref;
  } else {
    parsed.node = ref.substr(0, colon);
    const std::string digits = ref.substr(colon + 1);
    const bool all_digits = !digits.empty() && digits.size() <= 9 &&
                            std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit);
    if (!all_digits || !absl::SimpleAtoi(digits, &parsed.index)) {
      return Invalid(StrCat("'", ref, "' is not a tensor reference (\"node\" or \"node:index\")"));
    }
  }
  if (parsed.node.empty() || parsed.node.find(':') != std::string::npos) {
    return Invalid(StrCat("'", ref, "' is not a tensor reference (\"node\" or \"node:index\")"));
  }
  return parsed;
}

// Resolves tensor references against a graph under construction.
class Resolver {
 public:
  explicit Resolver(Graph& graph) : graph_(graph) {}

  absl::StatusOr<Tensor> ResolveTensor(const std::string& ref) {
    KILN_ASSIGN_OR_RETURN(ParsedRef parsed, ParseRef(ref));
    const kiln::Node* node = graph_.FindNode(parsed.node);
    if (node == nullptr) return Invalid(StrCat("'", ref, "' refers to a missing node"));
    const int outputs = static_cast<int>(node->outputs.size());
    if (parsed.index >= outputs) {
      return Invalid(StrCat("'", ref, "' refers to output ", parsed.index, ", but '", node->name,
                            "' (", node->op_name(), ") has ", outputs, " output",
                            outputs == 1 ? "" : "s"));
    }
    return graph_.Output(node->id, parsed.index);
  }

  // A node that must be a Variable.
  absl::StatusOr<int> ResolveVariable(const std::string& name) {
    const kiln::Node* node = graph_.FindNode(name);
    if (node == nullptr) return Invalid(StrCat("'", name, "' refers to a missing node"));
    if (!node->op->is_stateful()) {
      return Invalid(StrCat("'", name, "' is a ", node->op_name(), ", not a Variable"));
    }
    return node->id;
  }

 private:
  Graph& graph_;
};

// The Variable initializer checks ops::Variable makes after adding the node, without computing the
// value (which may be large).
absl::Status CheckVariableInit(const Node& node) {
  const std::string& kind = node.attr<std::string>("init");
  if (kind == "value") {
    const TensorData& value = node.attr<TensorData>("init_value");
    const Shape& shape = node.attr<Shape>("shape");
    if (value.shape() != shape || value.size() != shape.NumElements()) {
      return Invalid(StrCat("initial value ", value.type().ToString(), " with ", value.size(),
                            " values does not match ", node.outputs[0].ToString()));
    }
  } else if (kind != "zeros" && kind != "constant" && kind != "uniform" && kind != "normal") {
    return Invalid(StrCat("unknown initializer '", kind,
                          "' (expected zeros, constant, uniform, normal, value)"));
  }
  return absl::OkStatus();
}

// Orders nodes inputs-first (depth first, following file order), or reports a cycle.
absl::StatusOr<std::vector<int>> TopologicalOrder(const proto::GraphDef& def,
                                                  const std::vector<std::vector<int>>& inputs) {
  const int n = def.nodes_size();
  enum State : uint8_t { kNew, kOnStack, kDone };
  std::vector<State> state(n, kNew);
  std::vector<int> order;
  order.reserve(n);
  std::vector<std::pair<int, size_t>> stack;  // node, next input to visit
  for (int root = 0; root < n; ++root) {
    if (state[root] != kNew) continue;
    stack.push_back({root, 0});
    state[root] = kOnStack;
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      if (next == inputs[id].size()) {
        state[id] = kDone;
        order.push_back(id);
        stack.pop_back();
        continue;
      }
      const int in = inputs[id][next++];
      if (state[in] == kDone) continue;
      if (state[in] == kOnStack) {
        // Each stacked node is an input of the one below it, and `in` is an input of the top one.
        auto quoted = [&](int id) { return StrCat("'", def.nodes(id).name(), "'"); };
        std::vector<std::string> cycle = {quoted(in)};
        for (size_t i = stack.size(); i-- > 0 && stack[i].first != in;) {
          cycle.push_back(quoted(stack[i].first));
        }
        cycle.push_back(quoted(in));
        const proto::NodeDef& node = def.nodes(in);
        return Invalid(StrCat(NodePrefix(node),
                              "the graph has a cycle: ", absl::StrJoin(cycle, " -> "),
                              " (each node is an input of the next)"));
      }
      state[in] = kOnStack;
      stack.push_back({in, 0});
    }
  }
  return order;
}

absl::Status CheckOutputShapes(const Node& node) {
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    const Shape& shape = node.outputs[i].shape;
    bool ok = BoundedElements(shape.dims()) >= 0;
    for (int64_t d : shape.dims()) ok &= d >= 0;
    if (!ok) {
      return Invalid(
          StrCat("output ", i, " would be ", node.outputs[i].ToString(),
                 ", which is not a valid tensor type (negative dimension or more than 2^48 "
                 "elements)"));
    }
  }
  return absl::OkStatus();
}

absl::Status WithContext(const absl::Status& status, const std::string& prefix) {
  return absl::Status(status.code(), StrCat(prefix, status.message()));
}

class TextErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) first_ = StrCat("line ", line + 1, ", column ", column + 1, ": ", message);
  }
  void AddWarning(int, google::protobuf::io::ColumnNumber, const std::string&) override {}
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

}  // namespace

absl::StatusOr<proto::GraphDef> ToGraphDef(const Graph& graph) {
  if (!graph.ok()) {
    return WithContext(graph.status(), "cannot save a graph that failed to build: ");
  }
  proto::GraphDef def;
  def.set_version(kGraphVersion);
  for (const Node& node : graph.nodes()) {
    const std::string prefix = StrCat(node.Describe(), ": ");
    if (node.name.find(':') != std::string::npos) {
      return Invalid(StrCat(prefix, "node names saved to a graph file cannot contain ':'"));
    }
    proto::NodeDef* out = def.add_nodes();
    out->set_name(node.name);
    out->set_op(node.op_name());
    for (const OutputRef& in : node.inputs) out->add_inputs(RefToString(graph, in));
    for (const auto& [name, value] : node.attrs) {
      if (absl::Status s = AttrToProto(value, &(*out->mutable_attrs())[name]); !s.ok()) {
        return WithContext(s, StrCat(prefix, "attribute '", name, "': "));
      }
    }
    out->set_source(node.source);
  }
  for (const auto& [name, ref] : graph.outputs()) {
    proto::GraphOutput* out = def.add_outputs();
    out->set_name(name);
    out->set_tensor(RefToString(graph, ref));
  }

  const TrainingInfo& t = graph.training();
  const bool has_training = t.loss.valid() || !t.parameters.empty() || !t.slots.empty() ||
                            !t.updates.empty() || !t.optimizer.empty() || !t.learning_rate.empty();
  if (has_training) {
    // What FromGraphDef requires, checked here too so that a graph that saves also loads.
    auto valid_id = [&](int id) { return id >= 0 && id < graph.num_nodes(); };
    auto variable_id = [&](int id) { return valid_id(id) && graph.node(id).op->is_stateful(); };
    auto valid_tensor = [&](const Tensor& x) {
      return x.valid() && x.graph() == &graph && valid_id(x.node()) &&
             x.index() < static_cast<int>(graph.node(x.node()).outputs.size());
    };
    proto::TrainingInfo* out = def.mutable_training();
    if (t.loss.valid()) {
      if (!valid_tensor(t.loss)) return Invalid("training loss is not a tensor of this graph");
      out->set_loss(RefToString(graph, t.loss.ref()));
    }
    for (int id : t.parameters) {
      if (!variable_id(id)) {
        return Invalid(StrCat("training parameter ", id, " is not a Variable of this graph"));
      }
      out->add_parameters(graph.node(id).name);
    }
    for (const TrainingInfo::Slot& slot : t.slots) {
      if (!variable_id(slot.variable) || !variable_id(slot.slot_variable)) {
        return Invalid(
            StrCat("training slot '", slot.name, "' refers to a node that is not a Variable"));
      }
      proto::TrainingInfo::Slot* s = out->add_slots();
      s->set_variable(graph.node(slot.variable).name);
      s->set_name(slot.name);
      s->set_slot_variable(graph.node(slot.slot_variable).name);
    }
    for (const auto& [variable, value] : t.updates) {
      if (!variable_id(variable) || !valid_tensor(value)) {
        return Invalid("a training update refers to a Variable or tensor not in this graph");
      }
      if (!(value.type() == graph.node(variable).outputs[0])) {
        return Invalid(StrCat("training update of '", graph.node(variable).name, "': new value ",
                              value.name(), " is ", value.type().ToString(),
                              ", but the variable is ",
                              graph.node(variable).outputs[0].ToString()));
      }
      proto::TrainingInfo::Update* u = out->add_updates();
      u->set_variable(graph.node(variable).name);
      u->set_value(RefToString(graph, value.ref()));
    }
    out->set_optimizer(t.optimizer);
    out->set_learning_rate(t.learning_rate);
  }
  return def;
}

absl::StatusOr<std::unique_ptr<Graph>> FromGraphDef(const proto::GraphDef& def) {
  proto::GraphDef copy = def;
  return FromGraphDef(std::move(copy));
}

absl::StatusOr<std::unique_ptr<Graph>> FromGraphDef(proto::GraphDef&& def) {
  if (def.version() < kOldestGraphVersion || def.version() > kGraphVersion) {
    return Invalid(StrCat("unsupported graph file version: expected version ", kOldestGraphVersion,
                          " to ", kGraphVersion, ", found version ", def.version()));
  }

  // Names, ops and references to other nodes, in file order.
  const int n = def.nodes_size();
  std::map<std::string, int> index;  // name -> position in the file
  for (int i = 0; i < n; ++i) {
    const proto::NodeDef& node = def.nodes(i);
    if (node.name().empty()) {
      return Invalid(StrCat(NodePrefix(node), "node ", i, " of the file has an empty name"));
    }
    if (node.name().find(':') != std::string::npos) {
      return Invalid(StrCat(NodePrefix(node), "node names cannot contain ':'"));
    }
    auto [it, inserted] = index.emplace(node.name(), i);
    if (!inserted) {
      return Invalid(StrCat(NodePrefix(node), "duplicate node name (nodes ", it->second, " and ", i,
                            " of the file)"));
    }
    if (OpRegistry::Find(node.op()) == nullptr) {
      return Invalid(StrCat(NodePrefix(node), "unknown op '", node.op(), "'"));
    }
  }
  std::vector<std::vector<int>> inputs(n);
  for (int i = 0; i < n; ++i) {
    const proto::NodeDef& node = def.nodes(i);
    for (int k = 0; k < node.inputs_size(); ++k) {
      absl::StatusOr<ParsedRef> ref = ParseRef(node.inputs(k));
      if (!ref.ok()) return WithContext(ref.status(), StrCat(NodePrefix(node), "input ", k, ": "));
      auto it = index.find(ref->node);
      if (it == index.end()) {
        return Invalid(StrCat(NodePrefix(node), "input ", k, ": '", node.inputs(k),
                              "' refers to a missing node"));
      }
      inputs[i].push_back(it->second);
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int> order, TopologicalOrder(def, inputs));

  // Rebuild through Graph::AddNode, which checks arity, attributes, dtypes and shapes.
  auto graph = std::make_unique<Graph>();
  Resolver resolve(*graph);
  for (int i : order) {
    proto::NodeDef& node = *def.mutable_nodes(i);
    const std::string prefix = NodePrefix(node);
    std::vector<Tensor> args;
    for (int k = 0; k < node.inputs_size(); ++k) {
      absl::StatusOr<Tensor> t = resolve.ResolveTensor(node.inputs(k));
      if (!t.ok()) return WithContext(t.status(), StrCat(prefix, "input ", k, ": "));
      args.push_back(*t);
    }
    // Sorted, so that the first bad attribute reported does not depend on the map's order.
    std::map<std::string, proto::AttrValue*> sorted;
    for (auto& [name, value] : *node.mutable_attrs()) sorted.emplace(name, &value);
    AttrMap attrs;
    for (const auto& [name, value] : sorted) {
      absl::StatusOr<AttrValue> v = AttrFromProto(value, def.version());
      if (!v.ok()) return WithContext(v.status(), StrCat(prefix, "attribute '", name, "': "));
      attrs.emplace(name, *std::move(v));
    }
    graph->set_source_override(node.source());
    const int id = graph->AddNode(node.op(), args, std::move(attrs), SourceLoc{}, node.name());
    graph->set_source_override("");
    if (id < 0) return graph->status();
    const Node& added = graph->node(id);
    KILN_RETURN_IF_ERROR(WithContext(CheckOutputShapes(added), prefix));
    if (added.op_name() == "Variable")
      KILN_RETURN_IF_ERROR(WithContext(CheckVariableInit(added), prefix));
  }

  // Named outputs.
  std::map<std::string, int> output_names;
  for (int i = 0; i < def.outputs_size(); ++i) {
    const proto::GraphOutput& out = def.outputs(i);
    const std::string prefix = StrCat("graph output '", out.name(), "': ");
    if (!output_names.emplace(out.name(), i).second) {
      return Invalid(StrCat(prefix, "name is used by more than one output"));
    }
    absl::StatusOr<Tensor> t = resolve.ResolveTensor(out.tensor());
    if (!t.ok()) return WithContext(t.status(), prefix);
    graph->AddOutput(out.name(), *t, SourceLoc{});
  }

  // Training metadata.
  if (def.has_training()) {
    const proto::TrainingInfo& in = def.training();
    TrainingInfo& t = graph->training();
    if (!in.loss().empty()) {
      absl::StatusOr<Tensor> loss = resolve.ResolveTensor(in.loss());
      if (!loss.ok()) return WithContext(loss.status(), "training loss: ");
      t.loss = *loss;
    }
    for (const std::string& name : in.parameters()) {
      absl::StatusOr<int> id = resolve.ResolveVariable(name);
      if (!id.ok()) return WithContext(id.status(), "training parameter: ");
      t.parameters.push_back(*id);
    }
    for (const proto::TrainingInfo::Slot& slot : in.slots()) {
      const std::string prefix =
          StrCat("training slot '", slot.name(), "' of '", slot.variable(), "': ");
      absl::StatusOr<int> variable = resolve.ResolveVariable(slot.variable());
      if (!variable.ok()) return WithContext(variable.status(), prefix);
      absl::StatusOr<int> slot_variable = resolve.ResolveVariable(slot.slot_variable());
      if (!slot_variable.ok()) return WithContext(slot_variable.status(), prefix);
      t.slots.push_back({*variable, slot.name(), *slot_variable});
    }
    for (const proto::TrainingInfo::Update& update : in.updates()) {
      const std::string prefix = StrCat("training update of '", update.variable(), "': ");
      absl::StatusOr<int> variable = resolve.ResolveVariable(update.variable());
      if (!variable.ok()) return WithContext(variable.status(), prefix);
      absl::StatusOr<Tensor> value = resolve.ResolveTensor(update.value());
      if (!value.ok()) return WithContext(value.status(), prefix);
      const TensorType& want = graph->node(*variable).outputs[0];
      if (!(value->type() == want)) {
        return Invalid(StrCat(prefix, "new value '", update.value(), "' is ",
                              value->type().ToString(), ", but the variable is ", want.ToString()));
      }
      t.updates.emplace_back(*variable, *value);
    }
    t.optimizer = in.optimizer();
    if (!in.learning_rate().empty() && graph->FindNode(in.learning_rate()) == nullptr) {
      return Invalid(
          StrCat("training learning rate: '", in.learning_rate(), "' refers to a missing node"));
    }
    t.learning_rate = in.learning_rate();
  }
  KILN_RETURN_IF_ERROR(graph->status());
  return graph;
}

namespace {

// What protobuf reads or writes at most (2 GiB - 1). Binary files are parsed through a
// CodedInputStream with its total-bytes limit raised to this: older protobufs default to 64 MiB,
// which one large weight passes.
constexpr int64_t kMaxGraphFileBytes = std::numeric_limits<int>::max();

absl::Status BinaryParseError(uint64_t size) {
  if (size > static_cast<uint64_t>(kMaxGraphFileBytes)) {
    return Invalid(
        StrCat("graph file of ", size, " bytes is larger than the 2 GiB protobuf reads"));
  }
  return Invalid(StrCat("malformed graph file: ", size,
                        " bytes are not a binary kiln.proto.GraphDef (text-format files must end "
                        "in .pbtxt)"));
}

bool ParseBinary(google::protobuf::io::ZeroCopyInputStream* stream, proto::GraphDef* def) {
  google::protobuf::io::CodedInputStream coded(stream);
  coded.SetTotalBytesLimit(static_cast<int>(kMaxGraphFileBytes));
  return def->ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
}

absl::Status CheckBinarySize(const proto::GraphDef& def) {
  const size_t size = def.ByteSizeLong();
  if (size > static_cast<size_t>(kMaxGraphFileBytes)) {
    return Invalid(
        StrCat("the graph file would be ", size, " bytes, more than the 2 GiB protobuf reads"));
  }
  return absl::OkStatus();
}

// Deterministic, so that saving a graph twice gives the same bytes. After CheckBinarySize, fails
// only when `stream` does.
bool WriteBinary(const proto::GraphDef& def, google::protobuf::io::ZeroCopyOutputStream* stream) {
  google::protobuf::io::CodedOutputStream coded(stream);
  coded.SetSerializationDeterministic(true);
  return def.SerializeToCodedStream(&coded) && !coded.HadError();
}

}  // namespace

absl::StatusOr<proto::GraphDef> ParseGraph(std::string_view bytes) {
  proto::GraphDef def;
  if (bytes.size() > static_cast<size_t>(kMaxGraphFileBytes)) return BinaryParseError(bytes.size());
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  if (!ParseBinary(&stream, &def)) return BinaryParseError(bytes.size());
  return def;
}

absl::StatusOr<proto::GraphDef> ParseGraphText(std::string_view text) {
  proto::GraphDef def;
  if (text.size() > static_cast<size_t>(kMaxGraphFileBytes)) {
    return Invalid(StrCat("text graph file of ", text.size(),
                          " bytes is larger than the 2 GiB protobuf reads"));
  }
  TextErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  google::protobuf::io::ArrayInputStream stream(text.data(), static_cast<int>(text.size()));
  if (!parser.Parse(&stream, &def)) {
    return Invalid(StrCat("malformed text graph file: ",
                          errors.first().empty() ? "could not parse" : errors.first()));
  }
  return def;
}

absl::StatusOr<std::string> SerializeGraph(const Graph& graph, bool text) {
  KILN_ASSIGN_OR_RETURN(proto::GraphDef def, ToGraphDef(graph));
  std::string data;
  if (text) {
    if (!google::protobuf::TextFormat::PrintToString(def, &data)) {
      return absl::InternalError("could not print the graph in text format");
    }
    return data;
  }
  KILN_RETURN_IF_ERROR(CheckBinarySize(def));
  {
    google::protobuf::io::StringOutputStream stream(&data);
    if (!WriteBinary(def, &stream)) return absl::InternalError("could not serialize the graph");
  }
  return data;
}

bool IsTextGraphPath(std::string_view path) {
  constexpr std::string_view kSuffix = ".pbtxt";
  return path.size() >= kSuffix.size() && path.substr(path.size() - kSuffix.size()) == kSuffix;
}

namespace {

absl::Status ErrnoError(int error, const std::string& message) {
  return absl::ErrnoToStatus(error, message);
}

absl::Status ReadError(int error, const std::string& path) {
  return ErrnoError(error, StrCat("cannot read graph file '", path, "'"));
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ReadError(errno, path);
  std::string data;
  char buffer[1 << 16];
  while (true) {
    const ssize_t got = read(fd, buffer, sizeof(buffer));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return ReadError(error, path);
    }
    if (got == 0) break;
    data.append(buffer, static_cast<size_t>(got));
  }
  close(fd);
  return data;
}

// Parses a binary graph file straight from the file, so that its bytes are never in memory beside
// the parsed message's (a large weight would be held twice). Every error names the path.
absl::StatusOr<proto::GraphDef> ReadBinaryGraph(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ReadError(errno, path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int error = errno;
    close(fd);
    return ReadError(error, path);
  }
  proto::GraphDef def;
  bool parsed = false;
  int error = 0;
  if (st.st_size <= kMaxGraphFileBytes) {
    google::protobuf::io::FileInputStream stream(fd);
    parsed = ParseBinary(&stream, &def);
    error = stream.GetErrno();
  }
  close(fd);
  if (error != 0) return ReadError(error, path);
  if (!parsed) {
    return WithContext(BinaryParseError(static_cast<uint64_t>(st.st_size)), StrCat(path, ": "));
  }
  return def;
}

// Writes a file through a temporary one in the same directory: `write_contents` fills the temporary
// file (returning 0, or the errno of the write that failed), which is fsync'ed and renamed over
// `path`; then the directory is fsync'ed so that the rename itself is durable.
absl::Status WriteAtomically(const std::string& path,
                             const std::function<int(int fd)>& write_contents) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  static std::atomic<uint64_t> counter{0};
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
    temp = StrCat(path, ".tmp.", getpid(), ".", counter.fetch_add(1));
    fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    return ErrnoError(
        errno, StrCat("cannot write '", path, "': cannot create a temporary file in '", dir, "'"));
  }
  auto fail = [&](int error, const char* what) {
    if (fd >= 0) close(fd);
    unlink(temp.c_str());
    return ErrnoError(error, StrCat("cannot write '", path, "': ", what));
  };
  if (const int error = write_contents(fd); error != 0) return fail(error, "write failed");
  if (fsync(fd) != 0) return fail(errno, "fsync failed");
  const int closed = close(fd);
  fd = -1;
  if (closed != 0) return fail(errno, "close failed");
  if (rename(temp.c_str(), path.c_str()) != 0) return fail(errno, "rename failed");
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    fsync(dir_fd);  // best effort: some file systems refuse fsync on directories
    close(dir_fd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path, const std::string& data) {
  return WriteAtomically(path, [&data](int fd) {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t written = write(fd, p, left);
      if (written < 0) {
        if (errno == EINTR) continue;
        return errno;
      }
      p += written;
      left -= static_cast<size_t>(written);
    }
    return 0;
  });
}

absl::Status SaveGraph(const Graph& graph, const std::string& path) {
  const bool text = IsTextGraphPath(path);
  absl::StatusOr<proto::GraphDef> def = ToGraphDef(graph);
  if (def.ok() && !text) {
    if (absl::Status s = CheckBinarySize(*def); !s.ok()) def = s;
  }
  if (!def.ok()) return WithContext(def.status(), StrCat("cannot save graph to '", path, "': "));
  // Serialized straight into the file: the message's bytes are never also held in a string.
  return WriteAtomically(path, [&](int fd) {
    google::protobuf::io::FileOutputStream stream(fd);
    const bool written =
        text ? google::protobuf::TextFormat::Print(*def, &stream) : WriteBinary(*def, &stream);
    if (written && stream.Flush()) return 0;
    return stream.GetErrno() != 0 ? stream.GetErrno() : EIO;
  });
}

absl::StatusOr<std::unique_ptr<Graph>> LoadGraph(const std::string& path) {
  proto::GraphDef def;
  if (IsTextGraphPath(path)) {
    KILN_ASSIGN_OR_RETURN(std::string data, ReadFile(path));
    absl::StatusOr<proto::GraphDef> parsed = ParseGraphText(data);
    if (!parsed.ok()) return WithContext(parsed.status(), StrCat(path, ": "));
    def = *std::move(parsed);
  } else {
    KILN_ASSIGN_OR_RETURN(def, ReadBinaryGraph(path));
  }
  // Moved, so that the graph takes the tensors' bytes from the message instead of copying them.
  absl::StatusOr<std::unique_ptr<Graph>> graph = FromGraphDef(std::move(def));
  if (!graph.ok()) return WithContext(graph.status(), StrCat(path, ": "));
  return graph;
}

}  // namespace kiln
