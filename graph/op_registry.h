// The op registry: each op is defined once, in graph/ops/<family>.cc, with every facet on adjacent
// lines: inputs and attributes, a one-line doc, its shape/dtype rule, its gradient rule (or an
// explicit "not differentiable"), its reference kernel, its lowering to code (graph/lowering.h),
// and its traits (argument, stateful, effects; see OpDef). See graph/ops/README.md for how to add
// one.
#ifndef KILN_GRAPH_OP_REGISTRY_H_
#define KILN_GRAPH_OP_REGISTRY_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/lowering.h"
#include "graph/types.h"

namespace kiln {

enum class AttrType {
  kInt,
  kFloat,
  kBool,
  kString,
  kDType,
  kShape,
  kTensor,
  kInts,
  kFloats,
  kStrings
};
const char* AttrTypeName(AttrType type);
// The AttrType a value holds (the variant's alternative).
AttrType AttrTypeOf(const AttrValue& value);

struct AttrSpec {
  std::string name;
  AttrType type;
  std::optional<AttrValue> default_value;  // required when empty
};

// What a shape rule sees. Attributes are complete and of their declared types.
struct InferContext {
  const std::vector<TensorType>& inputs;
  const AttrMap& attrs;
  template <typename T>
  const T& attr(const std::string& name) const {
    return std::get<T>(attrs.at(name));
  }
};

// Returns the output types, or an error message (InvalidArgument) without the op's name: the graph
// prefixes "Op 'name' (file:line): ".
using ShapeFn = std::function<absl::StatusOr<std::vector<TensorType>>(const InferContext&)>;

// What a gradient rule sees: the forward node's inputs and outputs as tensors, and the gradient of
// the loss with respect to each output (zeros where an output does not reach the loss).
struct GradContext {
  Graph& graph;
  const Node& node;
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
  std::vector<Tensor> output_grads;
  template <typename T>
  const T& attr(const std::string& name) const {
    return node.attr<T>(name);
  }
};

// Builds the gradient with respect to each input from ops (so rules of differentiable ops are
// themselves differentiable). An invalid Tensor means "no gradient" (integer inputs, indices).
// A result may have the broadcast output's shape: autodiff sums it back to the input's shape.
using GradFn = std::function<std::vector<Tensor>(const GradContext&)>;

// What a reference kernel sees: inputs as literals, outputs allocated with their static types.
// Kernels compute in double; the interpreter rounds outputs to their dtype afterwards.
struct KernelContext {
  const Node& node;
  std::vector<const Literal*> inputs;
  std::vector<Literal>& outputs;
  template <typename T>
  const T& attr(const std::string& name) const {
    return node.attr<T>(name);
  }
  const Literal& in(int i) const { return *inputs[i]; }
  Literal& out(int i = 0) const { return outputs[i]; }
};

using KernelFn = std::function<absl::Status(KernelContext&)>;

// The value a stateful op's node holds before the first run (a Variable's initializer).
using InitialValueFn = std::function<absl::StatusOr<TensorData>(const Node&)>;

// One op's complete definition. Built fluently and registered with KILN_REGISTER_OP.
//
// Besides its facets an op may have traits, which say what the interpreter and the compiler may
// assume about it; ask the def (node.op->is_argument()), never the op's name:
//   Argument()         its value is bound by the caller, not computed: the compiled function's
//                      argument, the interpreter's feed or stored value (Placeholder). No inputs,
//                      and no kernel or lowering (the completeness test exempts it).
//   Stateful(initial)  an argument whose value persists across runs, starting from `initial`, and
//                      which training may update (Variable).
//   Effects("what")    the op does something besides computing its outputs (a runtime or library
//                      call with side effects): it runs even when nothing uses its outputs, is
//                      never merged with an identical node, and runs in graph (node id) order
//                      relative to every other effectful node. Its kernel performs the effect in
//                      the interpreter; its lowering must call a C function (ExternalCall in
//                      graph/lowering.h), which no pass merges, removes or reorders.
struct OpDef {
  explicit OpDef(std::string name) : name(std::move(name)) {}

  std::string name;
  std::string doc;
  std::vector<std::string> inputs;
  bool variadic = false;  // the last input repeats (one or more)
  std::vector<AttrSpec> attrs;
  ShapeFn shape;
  GradFn grad;
  // Why an op has no gradient rule ("integer output", "a sampling op"); empty for differentiable
  // ops.
  std::string not_differentiable;
  KernelFn kernel;
  LowerFn lower;
  // Traits (see above).
  bool argument = false;
  InitialValueFn initial_value;  // set for stateful ops only
  std::string effects;           // what the effect is; empty for ops without effects

  OpDef& Doc(std::string d) {
    doc = std::move(d);
    return *this;
  }
  OpDef& Inputs(std::vector<std::string> names) {
    inputs = std::move(names);
    return *this;
  }
  OpDef& VariadicInputs(std::string name) {
    inputs = {std::move(name)};
    variadic = true;
    return *this;
  }
  OpDef& Attr(std::string attr_name, AttrType type) {
    attrs.push_back({std::move(attr_name), type, std::nullopt});
    return *this;
  }
  OpDef& Attr(std::string attr_name, AttrType type, AttrValue default_value) {
    attrs.push_back({std::move(attr_name), type, std::move(default_value)});
    return *this;
  }
  OpDef& Shape(ShapeFn fn) {
    shape = std::move(fn);
    return *this;
  }
  OpDef& Grad(GradFn fn) {
    grad = std::move(fn);
    return *this;
  }
  OpDef& NotDifferentiable(std::string why) {
    not_differentiable = std::move(why);
    return *this;
  }
  OpDef& Kernel(KernelFn fn) {
    kernel = std::move(fn);
    return *this;
  }
  OpDef& Lower(LowerFn fn) {
    lower = std::move(fn);
    return *this;
  }
  OpDef& Argument() {
    argument = true;
    return *this;
  }
  OpDef& Stateful(InitialValueFn initial) {
    initial_value = std::move(initial);
    return *this;
  }
  OpDef& Effects(std::string what) {
    effects = std::move(what);
    return *this;
  }

  bool differentiable() const { return static_cast<bool>(grad); }
  bool is_argument() const { return argument; }
  bool is_stateful() const { return static_cast<bool>(initial_value); }
  // An argument fed anew for each run (a Placeholder), rather than kept (a Variable).
  bool is_fed() const { return argument && !is_stateful(); }
  bool has_effects() const { return !effects.empty(); }
};

class OpRegistry {
 public:
  // Registers `def`; aborts on a duplicate name (a build error, not a user error).
  static bool Register(OpDef def);
  static const OpDef* Find(const std::string& name);
  // All ops, sorted by name.
  static std::vector<const OpDef*> All();
};

// The files of graph/ops/ that register ops, each of which says KILN_OP_FAMILY(Name) once. The
// registry calls every family's anchor, so a program that looks up ops links them all however it is
// linked: a static archive contributes only the objects a program references, and ops register from
// static initializers.
#define KILN_OP_FAMILIES(X) \
  X(Array) X(Conv) X(Core) X(Math) X(MatMul) X(Pool) X(Random) X(Reduce) X(Softmax)
#define KILN_OP_FAMILY(name) \
  void LinkOpFamily##name() {}

#define KILN_OP_CONCAT_INNER_(a, b) a##b
#define KILN_OP_CONCAT_(a, b) KILN_OP_CONCAT_INNER_(a, b)
// Registers an op at static-initialization time: KILN_REGISTER_OP(OpDef("Relu").Doc(...)...);
#define KILN_REGISTER_OP(def)                                        \
  static const bool KILN_OP_CONCAT_(kiln_op_registered_, __LINE__) = \
      ::kiln::OpRegistry::Register(def)

}  // namespace kiln

#endif  // KILN_GRAPH_OP_REGISTRY_H_
