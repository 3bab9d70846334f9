#include "graph/graph.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/op_registry.h"

namespace kiln {
namespace {

const TensorType& InvalidType() {
  static const TensorType* type = new TensorType{DType::kF32, Shape()};
  return *type;
}

// Checks `attrs` against the op's declared attributes, filling defaults; ints widen to floats.
absl::Status CheckAttrs(const OpDef& def, AttrMap& attrs) {
  for (const auto& [name, value] : attrs) {
    bool known = false;
    for (const AttrSpec& spec : def.attrs) known |= spec.name == name;
    if (!known) {
      std::vector<std::string> names;
      for (const AttrSpec& spec : def.attrs) names.push_back(spec.name);
      return absl::InvalidArgumentError(
          absl::StrCat("unknown attribute '", name, "' (", def.name,
                       " has: ", names.empty() ? "none" : absl::StrJoin(names, ", "), ")"));
    }
  }
  for (const AttrSpec& spec : def.attrs) {
    auto it = attrs.find(spec.name);
    if (it == attrs.end()) {
      if (!spec.default_value) {
        return absl::InvalidArgumentError(absl::StrCat("missing required attribute '", spec.name,
                                                       "' (", AttrTypeName(spec.type), ")"));
      }
      attrs.emplace(spec.name, *spec.default_value);
      continue;
    }
    AttrValue& value = it->second;
    if (spec.type == AttrType::kFloat && std::holds_alternative<int64_t>(value)) {
      value = static_cast<double>(std::get<int64_t>(value));
    } else if (spec.type == AttrType::kFloats &&
               std::holds_alternative<std::vector<int64_t>>(value)) {
      const auto& ints = std::get<std::vector<int64_t>>(value);
      value = std::vector<double>(ints.begin(), ints.end());
    } else if (spec.type == AttrType::kShape &&
               std::holds_alternative<std::vector<int64_t>>(value)) {
      value = Shape(std::get<std::vector<int64_t>>(value));
    }
    if (AttrTypeOf(value) != spec.type) {
      return absl::InvalidArgumentError(absl::StrCat("attribute '", spec.name, "' must be ",
                                                     AttrTypeName(spec.type), ", got ",
                                                     AttrTypeName(AttrTypeOf(value))));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string SourceLoc::ToString() const {
  if (file == nullptr || *file == '\0') return "";
  const char* base = std::strrchr(file, '/');
  return absl::StrCat(base ? base + 1 : file, ":", line);
}

const TensorType& Tensor::type() const {
  if (!valid()) return InvalidType();
  return graph_->type(ref_);
}

std::string Tensor::name() const {
  if (!valid()) return "<invalid>";
  const std::string& n = graph_->node(ref_.node).name;
  return ref_.index == 0 ? n : absl::StrCat(n, ":", ref_.index);
}

const std::string& Node::op_name() const { return op->name; }

std::string Node::Describe() const { return DescribeNode(op_name(), name, source); }

std::string DescribeNode(const std::string& op, const std::string& name,
                         const std::string& source) {
  return absl::StrCat(op, " '", name, "'", source.empty() ? "" : absl::StrCat(" (", source, ")"));
}

void Graph::RecordError(absl::Status status) {
  if (status_.ok() && !status.ok()) status_ = std::move(status);
}

std::string Graph::UniqueName(const std::string& base) {
  if (!by_name_.count(base)) return base;
  int& count = name_counts_[base];
  std::string name;
  do {
    name = absl::StrCat(base, "_", ++count);
  } while (by_name_.count(name));
  return name;
}

int Graph::AddNode(const std::string& op, const std::vector<Tensor>& inputs, AttrMap attrs,
                   SourceLoc loc, const std::string& name) {
  if (!status_.ok()) return -1;
  const std::string source = source_override_.empty() ? loc.ToString() : source_override_;
  const std::string scoped = scope_ + (name.empty() ? op : name);
  auto fail = [&](const std::string& message) {
    RecordError(
        absl::InvalidArgumentError(absl::StrCat(DescribeNode(op, scoped, source), ": ", message)));
    return -1;
  };

  const OpDef* def = OpRegistry::Find(op);
  if (def == nullptr) return fail("unknown op");
  if (def->variadic ? inputs.empty() : inputs.size() != def->inputs.size()) {
    return fail(absl::StrCat("expects ",
                             def->variadic ? "one or more" : std::to_string(def->inputs.size()),
                             " input", def->inputs.size() == 1 && !def->variadic ? "" : "s", " (",
                             absl::StrJoin(def->inputs, ", "), "), got ", inputs.size()));
  }
  std::vector<TensorType> input_types;
  std::vector<OutputRef> refs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (t.graph() != nullptr && t.graph() != this) {
      return fail(absl::StrCat("input ", i, " belongs to another graph"));
    }
    if (!t.valid()) {
      return fail(absl::StrCat("input ", i, " is an empty Tensor handle"));
    }
    input_types.push_back(type(t.ref()));
    refs.push_back(t.ref());
  }
  if (absl::Status s = CheckAttrs(*def, attrs); !s.ok()) return fail(std::string(s.message()));
  absl::StatusOr<std::vector<TensorType>> outputs = def->shape(InferContext{input_types, attrs});
  if (!outputs.ok()) return fail(std::string(outputs.status().message()));

  std::string unique = scoped;
  if (!name.empty()) {
    // An explicit name is the user's handle on the node (feeds, checkpoints): it must be free.
    if (by_name_.count(scoped)) return fail("name is already used by another node");
  } else {
    unique = UniqueName(scoped);
  }
  Node node;
  node.id = num_nodes();
  node.name = unique;
  node.op = def;
  node.inputs = std::move(refs);
  node.attrs = std::move(attrs);
  node.outputs = *std::move(outputs);
  node.source = source;
  by_name_[unique] = node.id;
  nodes_.push_back(std::move(node));
  return nodes_.back().id;
}

const Node* Graph::FindNode(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &nodes_[it->second];
}

void Graph::AddOutput(const std::string& name, Tensor tensor, SourceLoc loc) {
  if (!ok()) return;
  if (!tensor.valid() || tensor.graph() != this) {
    RecordError(absl::InvalidArgumentError(
        absl::StrCat("output '", name, "' (", loc.ToString(), "): not a tensor of this graph")));
    return;
  }
  for (const auto& [existing, ref] : outputs_) {
    if (existing == name) {
      RecordError(absl::InvalidArgumentError(
          absl::StrCat("output '", name, "' (", loc.ToString(), "): name already used")));
      return;
    }
  }
  outputs_.emplace_back(name, tensor.ref());
}

NameScope::NameScope(Graph& graph, const std::string& name, bool absolute)
    : graph_(graph), saved_(graph.scope_) {
  graph_.scope_ = absolute && name.empty() ? "" : absl::StrCat(absolute ? "" : saved_, name, "/");
}

NameScope::~NameScope() { graph_.scope_ = saved_; }

}  // namespace kiln
