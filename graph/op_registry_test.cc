// The completeness test: every registered op has every facet, and every op the graph core promises
// is registered.
#include "graph/op_registry.h"

#include <string>

#include "catch2/catch.hpp"

namespace kiln {
namespace {

TEST_CASE(
    "Every op has a doc, a shape rule, a kernel, a lowering, and a gradient rule or a reason "
    "it has none") {
  const auto all = OpRegistry::All();
  REQUIRE(all.size() > 50);
  for (const OpDef* def : all) {
    INFO("op " << def->name);
    CHECK_FALSE(def->doc.empty());
    CHECK(static_cast<bool>(def->shape));
    if (def->is_argument()) {
      // The caller binds an argument's value: a kernel or lowering would never run.
      CHECK(def->inputs.empty());
      CHECK_FALSE(static_cast<bool>(def->kernel));
      CHECK_FALSE(static_cast<bool>(def->lower));
      CHECK_FALSE(def->has_effects());
    } else {
      CHECK(static_cast<bool>(def->kernel));
      CHECK(static_cast<bool>(def->lower));
      // State lives in the buffers the caller passes: only arguments can keep it.
      CHECK_FALSE(def->is_stateful());
    }
    // Exactly one of: a gradient rule, or an explicit "not differentiable" with its reason.
    CHECK(def->differentiable() != !def->not_differentiable.empty());
    for (const AttrSpec& a : def->attrs) {
      INFO("attr " << a.name);
      if (a.default_value) CHECK(AttrTypeOf(*a.default_value) == a.type);
    }
  }
}

TEST_CASE("The graph core's arguments have their traits") {
  const OpDef* placeholder = OpRegistry::Find("Placeholder");
  const OpDef* variable = OpRegistry::Find("Variable");
  REQUIRE(placeholder != nullptr);
  REQUIRE(variable != nullptr);
  CHECK(placeholder->is_argument());
  CHECK(placeholder->is_fed());
  CHECK_FALSE(placeholder->is_stateful());
  CHECK(variable->is_argument());
  CHECK(variable->is_stateful());
  CHECK_FALSE(variable->is_fed());
  // No op of the graph core has effects: every one may be merged, removed when unused, or moved.
  for (const OpDef* def : OpRegistry::All()) {
    INFO("op " << def->name);
    CHECK_FALSE(def->has_effects());
    if (def->name != "Placeholder" && def->name != "Variable") CHECK_FALSE(def->is_argument());
  }
}

TEST_CASE("The graph core's op set is registered") {
  const char* required[] = {"Const",
                            "Placeholder",
                            "Variable",
                            "Neg",
                            "Abs",
                            "Sign",
                            "Exp",
                            "Log",
                            "Log1p",
                            "Sqrt",
                            "Rsqrt",
                            "Square",
                            "Reciprocal",
                            "Tanh",
                            "Sigmoid",
                            "Relu",
                            "Gelu",
                            "Erf",
                            "Sin",
                            "Cos",
                            "Floor",
                            "Add",
                            "Sub",
                            "Mul",
                            "Div",
                            "Pow",
                            "Maximum",
                            "Minimum",
                            "Equal",
                            "Less",
                            "Greater",
                            "LogicalAnd",
                            "LogicalNot",
                            "Select",
                            "Cast",
                            "MatMul",
                            "BatchMatMul",
                            "Conv2D",
                            "Conv2DBackpropInput",
                            "Conv2DBackpropFilter",
                            "MaxPool2D",
                            "AvgPool2D",
                            "MaxPool2DGrad",
                            "AvgPool2DGrad",
                            "ReduceSum",
                            "ReduceMean",
                            "ReduceMax",
                            "ReduceMin",
                            "ReduceProd",
                            "ArgMax",
                            "Reshape",
                            "Transpose",
                            "BroadcastTo",
                            "Concat",
                            "Slice",
                            "Split",
                            "Pad",
                            "Gather",
                            "ScatterAdd",
                            "Softmax",
                            "LogSoftmax",
                            "SparseSoftmaxCrossEntropy",
                            "SoftmaxCrossEntropy",
                            "OneHot",
                            "StopGradient",
                            "Identity",
                            "RandomUniform",
                            "RandomNormal"};
  for (const char* name : required) {
    INFO("op " << name);
    CHECK(OpRegistry::Find(name) != nullptr);
  }
}

}  // namespace
}  // namespace kiln
