#include "graph/op_registry.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>

namespace kiln {

#define KILN_DECLARE_OP_FAMILY_(name) void LinkOpFamily##name();
KILN_OP_FAMILIES(KILN_DECLARE_OP_FAMILY_)
#undef KILN_DECLARE_OP_FAMILY_

namespace {

std::map<std::string, std::unique_ptr<OpDef>>& Registry() {
  static auto* registry = [] {
#define KILN_LINK_OP_FAMILY_(name) LinkOpFamily##name();
    KILN_OP_FAMILIES(KILN_LINK_OP_FAMILY_)
#undef KILN_LINK_OP_FAMILY_
    return new std::map<std::string, std::unique_ptr<OpDef>>();
  }();
  return *registry;
}

}  // namespace

const char* AttrTypeName(AttrType type) {
  switch (type) {
    case AttrType::kInt: return "int";
    case AttrType::kFloat: return "float";
    case AttrType::kBool: return "bool";
    case AttrType::kString: return "string";
    case AttrType::kDType: return "dtype";
    case AttrType::kShape: return "shape";
    case AttrType::kTensor: return "tensor";
    case AttrType::kInts: return "list(int)";
    case AttrType::kFloats: return "list(float)";
    case AttrType::kStrings: return "list(string)";
  }
  return "?";
}

AttrType AttrTypeOf(const AttrValue& value) {
  // The variant's alternatives are declared in AttrType's order.
  return static_cast<AttrType>(value.index());
}

bool OpRegistry::Register(OpDef def) {
  auto& registry = Registry();
  if (registry.count(def.name)) {
    std::fprintf(stderr, "kiln: op '%s' registered twice\n", def.name.c_str());
    std::abort();
  }
  std::string name = def.name;
  registry.emplace(name, std::make_unique<OpDef>(std::move(def)));
  return true;
}

const OpDef* OpRegistry::Find(const std::string& name) {
  auto& registry = Registry();
  auto it = registry.find(name);
  return it == registry.end() ? nullptr : it->second.get();
}

std::vector<const OpDef*> OpRegistry::All() {
  std::vector<const OpDef*> all;
  for (const auto& [name, def] : Registry()) all.push_back(def.get());
  return all;
}

}  // namespace kiln
