#include "graph/autodiff.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/status_macros.h"

namespace kiln {

Tensor SumToShape(Tensor grad, const Shape& shape) {
  if (!grad.valid() || grad.shape() == shape) return grad;
  const Shape& from = grad.shape();
  const int offset = from.rank() - shape.rank();
  std::vector<int64_t> axes;
  for (int i = 0; i < from.rank(); ++i) {
    if (i < offset || (shape[i - offset] == 1 && from[i] != 1)) axes.push_back(i);
  }
  Tensor summed = axes.empty() ? grad : ops::ReduceSum(grad, axes, /*keep_dims=*/true);
  return summed.shape() == shape ? summed : ops::Reshape(summed, shape);
}

namespace {

// Restores the graph's source override when gradient construction for one node ends.
class SourceOverride {
 public:
  SourceOverride(Graph& g, const std::string& source) : g_(g), saved_(g.source_override()) {
    g_.set_source_override(source);
  }
  ~SourceOverride() { g_.set_source_override(saved_); }

 private:
  Graph& g_;
  std::string saved_;
};

Tensor Sum(const std::vector<Tensor>& terms) {
  Tensor total = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) total = ops::Add(total, terms[i]);
  return total;
}

}  // namespace

absl::StatusOr<std::vector<Tensor>> AddGradients(Tensor loss, const std::vector<Tensor>& wrt,
                                                 Tensor loss_grad) {
  if (!loss.valid()) return absl::InvalidArgumentError("AddGradients: loss is not a valid tensor");
  Graph& g = *loss.graph();
  KILN_RETURN_IF_ERROR(g.status());
  for (const Tensor& x : wrt) {
    if (!x.valid() || x.graph() != &g) {
      return absl::InvalidArgumentError(
          "AddGradients: every wrt tensor must belong to loss's graph");
    }
  }
  if (!IsFloat(loss.dtype())) {
    return absl::InvalidArgumentError(absl::StrCat("AddGradients: loss '", loss.name(),
                                                   "' must be floating point, got ",
                                                   loss.type().ToString()));
  }
  if (loss_grad.valid()) {
    if (!(loss_grad.type() == loss.type())) {
      return absl::InvalidArgumentError(absl::StrCat("AddGradients: loss_grad is ",
                                                     loss_grad.type().ToString(), ", loss is ",
                                                     loss.type().ToString()));
    }
  } else if (loss.rank() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AddGradients: loss '", loss.name(), "' must be a scalar, got ", loss.type().ToString(),
        " (reduce it, e.g. with ReduceMean, or pass loss_grad)"));
  }

  // Nodes on a path from some x to the loss: reachable forward from wrt, and backward from loss.
  const int end = loss.node() + 1;
  std::vector<bool> from_wrt(end, false), to_loss(end, false);
  for (const Tensor& x : wrt) {
    if (x.node() < end) from_wrt[x.node()] = true;
  }
  for (int id = 0; id < end; ++id) {
    if (g.node(id).op_name() == "StopGradient")
      continue;  // nothing beyond it depends on x for autodiff
    for (const OutputRef& in : g.node(id).inputs) from_wrt[id] = from_wrt[id] || from_wrt[in.node];
  }
  to_loss[loss.node()] = true;
  for (int id = end - 1; id >= 0; --id) {
    if (!to_loss[id]) continue;
    for (const OutputRef& in : g.node(id).inputs) to_loss[in.node] = true;
  }
  std::set<OutputRef> targets;
  for (const Tensor& x : wrt) targets.insert(x.ref());

  std::map<OutputRef, std::vector<Tensor>> pending;
  pending[loss.ref()].push_back(loss_grad.valid() ? loss_grad : ops::OnesLike(loss));

  for (int id = end - 1; id >= 0; --id) {
    if (!from_wrt[id] || !to_loss[id]) continue;
    const Node node = g.node(id);  // a copy: gradient rules append nodes, which may move g's nodes
    std::vector<Tensor> output_grads;
    bool any = false;
    for (int i = 0; i < static_cast<int>(node.outputs.size()); ++i) {
      auto it = pending.find(OutputRef{id, i});
      if (it != pending.end() && !it->second.empty()) {
        output_grads.push_back(Sum(it->second));
        it->second = {output_grads.back()};
        any = true;
      } else {
        output_grads.push_back(Tensor());
      }
    }
    if (!any) continue;
    // Nothing to propagate past a leaf or a node whose inputs do not depend on any x through a
    // float tensor (integer and bool tensors carry no gradient).
    bool inputs_on_path = false;
    for (const OutputRef& in : node.inputs) {
      inputs_on_path |= from_wrt[in.node] && IsFloat(g.type(in).dtype);
    }
    if (!inputs_on_path) continue;
    if (!node.op->differentiable()) {
      return absl::InvalidArgumentError(
          absl::StrCat("AddGradients: ", node.Describe(), " is not differentiable (",
                       node.op->not_differentiable,
                       ") but lies on a path from a wrt "
                       "tensor to loss '",
                       loss.name(), "'; wrap its input in StopGradient if that is intended"));
    }
    SourceOverride source(g, node.source);
    NameScope scope(g, "gradients");
    std::vector<Tensor> outputs;
    for (int i = 0; i < static_cast<int>(node.outputs.size()); ++i)
      outputs.push_back(g.Output(id, i));
    for (int i = 0; i < static_cast<int>(output_grads.size()); ++i) {
      if (!output_grads[i].valid()) output_grads[i] = ops::ZerosLike(outputs[i]);
    }
    std::vector<Tensor> inputs;
    for (const OutputRef& in : node.inputs) inputs.push_back(Tensor(&g, in));
    std::vector<Tensor> input_grads =
        node.op->grad(GradContext{g, node, inputs, outputs, output_grads});
    KILN_RETURN_IF_ERROR(g.status());
    if (input_grads.size() != inputs.size()) {
      return absl::InternalError(absl::StrCat("gradient rule of ", node.op_name(), " returned ",
                                              input_grads.size(), " gradients for ", inputs.size(),
                                              " inputs"));
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Tensor& in = inputs[i];
      if (!input_grads[i].valid() || !from_wrt[in.node()] || !IsFloat(in.dtype())) continue;
      Tensor grad = SumToShape(input_grads[i], in.shape());
      if (grad.valid() && !(grad.type() == in.type())) {
        return absl::InternalError(absl::StrCat("gradient rule of ", node.Describe(), " gave ",
                                                grad.type().ToString(), " for input ", i,
                                                " of type ", in.type().ToString()));
      }
      pending[in.ref()].push_back(grad);
    }
    KILN_RETURN_IF_ERROR(g.status());
  }

  std::vector<Tensor> grads;
  for (const Tensor& x : wrt) {
    auto it = pending.find(x.ref());
    grads.push_back(it != pending.end() && !it->second.empty() ? Sum(it->second)
                                                               : ops::ZerosLike(x));
  }
  KILN_RETURN_IF_ERROR(g.status());
  return grads;
}

}  // namespace kiln
