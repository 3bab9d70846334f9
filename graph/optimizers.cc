#include "graph/optimizers.h"

#include "absl/strings/str_cat.h"
#include "graph/autodiff.h"
#include "graph/op_registry.h"
#include "graph/ops.h"
#include "graph/status_macros.h"

namespace kiln {

std::string Optimizer::name() const {
  switch (kind) {
    case Kind::kSgd: return "sgd";
    case Kind::kMomentum: return nesterov ? "nesterov" : "momentum";
    case Kind::kAdam: return "adam";
    case Kind::kAdamW: return "adamw";
  }
  return "?";
}

Tensor GlobalStep(Graph& graph) {
  if (const Node* n = graph.FindNode("global_step")) return graph.Output(n->id);
  NameScope root(graph, "", /*absolute=*/true);  // one per graph, whichever layer asks first
  return ops::Variable(graph, "global_step", DType::kI64, {});
}

absl::StatusOr<TrainStepResult> TrainStep(Tensor loss, const std::vector<Tensor>& parameters,
                                          const Optimizer& optimizer) {
  if (!loss.valid()) return absl::InvalidArgumentError("TrainStep: loss is not a valid tensor");
  Graph& g = *loss.graph();
  KILN_RETURN_IF_ERROR(g.status());
  if (!g.training().updates.empty()) {
    return absl::FailedPreconditionError("TrainStep: this graph already has a training step");
  }
  if (parameters.empty()) return absl::InvalidArgumentError("TrainStep: no parameters to train");
  for (const Tensor& p : parameters) {
    if (!p.valid() || p.graph() != &g || !g.node(p.node()).op->is_stateful()) {
      return absl::InvalidArgumentError(
          absl::StrCat("TrainStep: parameter '", p.name(), "' is not a Variable of loss's graph"));
    }
    if (!IsFloat(p.dtype())) {
      return absl::InvalidArgumentError(absl::StrCat("TrainStep: parameter '", p.name(), "' is ",
                                                     p.type().ToString(), ", not float"));
    }
  }
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> grads, AddGradients(loss, parameters));

  const DType dtype = loss.dtype();
  TrainStepResult result{loss, ops::Placeholder(g, "learning_rate", dtype, {}), grads};
  Tensor step = GlobalStep(g);
  Tensor next_step = step + ops::Scalar(g, 1, DType::kI64);
  TrainingInfo& info = g.training();
  info.loss = loss;
  info.optimizer = optimizer.name();
  info.learning_rate = "learning_rate";
  info.updates.push_back({step.node(), next_step});

  for (size_t i = 0; i < parameters.size(); ++i) {
    const Tensor& p = parameters[i];
    const std::string& pname = g.node(p.node()).name;
    // Slots are named after their parameter ("dense/kernel/m"), outside the optimizer's scope.
    auto slot = [&](const std::string& slot_name) {
      Tensor v = ops::Variable(g, absl::StrCat(pname, "/", slot_name), p.dtype(), p.shape());
      info.slots.push_back({p.node(), slot_name, v.node()});
      return v;
    };
    const bool adam =
        optimizer.kind == Optimizer::Kind::kAdam || optimizer.kind == Optimizer::Kind::kAdamW;
    Tensor momentum = optimizer.kind == Optimizer::Kind::kMomentum ? slot("momentum") : Tensor();
    Tensor m = adam ? slot("m") : Tensor();
    Tensor v = adam ? slot("v") : Tensor();

    NameScope scope(g, "optimizer");
    const Tensor& grad = grads[i];
    Tensor lr =
        p.dtype() == dtype ? result.learning_rate : ops::Cast(result.learning_rate, p.dtype());
    Tensor updated;
    switch (optimizer.kind) {
      case Optimizer::Kind::kSgd: updated = p - lr * grad; break;
      case Optimizer::Kind::kMomentum: {
        Tensor next = momentum * optimizer.momentum + grad;
        info.updates.push_back({momentum.node(), next});
        updated = p - lr * (optimizer.nesterov ? grad + next * optimizer.momentum : next);
        break;
      }
      case Optimizer::Kind::kAdam:
      case Optimizer::Kind::kAdamW: {
        Tensor m_next = m * optimizer.beta1 + grad * (1 - optimizer.beta1);
        Tensor v_next = v * optimizer.beta2 + ops::Square(grad) * (1 - optimizer.beta2);
        info.updates.push_back({m.node(), m_next});
        info.updates.push_back({v.node(), v_next});
        // Bias corrections use the step number this update completes (1 on the first step).
        Tensor t = ops::Cast(next_step, p.dtype());
        Tensor m_hat = m_next / (1.0 - ops::Pow(ops::Scalar(g, optimizer.beta1, p.dtype()), t));
        Tensor v_hat = v_next / (1.0 - ops::Pow(ops::Scalar(g, optimizer.beta2, p.dtype()), t));
        Tensor delta = m_hat / (ops::Sqrt(v_hat) + optimizer.epsilon);
        if (optimizer.kind == Optimizer::Kind::kAdamW) delta = delta + p * optimizer.weight_decay;
        updated = p - lr * delta;
        break;
      }
    }
    info.parameters.push_back(p.node());
    info.updates.push_back({p.node(), updated});
  }
  g.AddOutput("loss", loss);
  KILN_RETURN_IF_ERROR(g.status());
  return result;
}

}  // namespace kiln
