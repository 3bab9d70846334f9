// Prints docs/ops.md from the op registry: `bazel run //graph:op_docs > docs/ops.md`.
// //graph:op_docs_test fails when the committed file is out of date.
#include <iostream>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "graph/op_registry.h"

namespace kiln {
namespace {

std::string DefaultText(const AttrValue& v) {
  struct Visitor {
    std::string operator()(int64_t x) const { return std::to_string(x); }
    std::string operator()(double x) const { return absl::StrCat(x); }
    std::string operator()(bool x) const { return x ? "true" : "false"; }
    std::string operator()(const std::string& x) const { return "\"" + x + "\""; }
    std::string operator()(DType x) const { return DTypeName(x); }
    std::string operator()(const Shape& x) const { return x.ToString(); }
    std::string operator()(const TensorData& x) const { return x.size() ? x.ToString() : "none"; }
    std::string operator()(const std::vector<int64_t>& x) const {
      return "[" + absl::StrJoin(x, ",") + "]";
    }
    std::string operator()(const std::vector<double>& x) const {
      return "[" + absl::StrJoin(x, ",") + "]";
    }
    std::string operator()(const std::vector<std::string>& x) const {
      return "[" + absl::StrJoin(x, ",") + "]";
    }
  };
  return std::visit(Visitor{}, v);
}

// "argument, stateful", "effects: ...", or "" for an op that only computes its outputs.
std::string Traits(const OpDef& def) {
  std::vector<std::string> traits;
  if (def.is_argument()) traits.push_back("argument");
  if (def.is_stateful()) traits.push_back("stateful");
  if (def.has_effects()) traits.push_back("effects: " + def.effects);
  return absl::StrJoin(traits, ", ");
}

std::string OpDocs() {
  std::string out =
      "# Kiln ops\n\nGenerated from the op registry by `bazel run //graph:op_docs > docs/ops.md`; "
      "do not edit.\nEach op is defined once in `graph/ops/<family>.cc` (shape rule, gradient "
      "rule, "
      "reference kernel).\nTraits (`graph/op_registry.h`): an *argument* is bound by the caller "
      "(fed, "
      "or kept when *stateful*: its value persists across runs) and has no kernel or lowering; an "
      "op "
      "with *effects* runs even when its outputs are unused, is never merged with an identical "
      "node, "
      "and keeps its order among effects.\n\n"
      "| op | inputs | attributes | gradient | traits | doc |\n| --- | --- | --- | --- | --- | --- "
      "|\n";
  for (const OpDef* def : OpRegistry::All()) {
    std::vector<std::string> attrs;
    for (const AttrSpec& a : def->attrs) {
      attrs.push_back(absl::StrCat("`", a.name, "`: ", AttrTypeName(a.type),
                                   a.default_value ? " = " + DefaultText(*a.default_value) : ""));
    }
    std::string inputs = absl::StrJoin(def->inputs, ", ");
    if (def->variadic) inputs += "…";
    absl::StrAppend(&out, "| ", def->name, " | ", inputs, " | ", absl::StrJoin(attrs, "; "), " | ",
                    def->differentiable() ? "yes" : "no: " + def->not_differentiable, " | ",
                    Traits(*def), " | ", def->doc, " |\n");
  }
  return out;
}

}  // namespace
}  // namespace kiln

int main() {
  std::cout << kiln::OpDocs();
  return 0;
}
