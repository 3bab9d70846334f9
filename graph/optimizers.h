// Optimizers that append their update subgraph, so a whole training step is one graph.
//
//   kiln::Tensor loss = ...;
//   auto step = kiln::TrainStep(loss, model.parameters(), kiln::Optimizer::Adam());
//   // feed "learning_rate"; running the graph's training updates performs one step.
#ifndef KILN_GRAPH_OPTIMIZERS_H_
#define KILN_GRAPH_OPTIMIZERS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace kiln {

// Update rules follow PyTorch's conventions (torch.optim), so results can be compared directly.
struct Optimizer {
  enum class Kind { kSgd, kMomentum, kAdam, kAdamW };
  Kind kind = Kind::kSgd;
  double momentum = 0.9;                              // Momentum
  bool nesterov = false;                              // Momentum
  double beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8;  // Adam, AdamW
  double weight_decay = 0.01;                         // AdamW (decoupled)

  static Optimizer Sgd() { return {}; }
  static Optimizer Momentum(double momentum = 0.9, bool nesterov = false) {
    Optimizer o;
    o.kind = Kind::kMomentum;
    o.momentum = momentum;
    o.nesterov = nesterov;
    return o;
  }
  static Optimizer Adam(double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8) {
    Optimizer o;
    o.kind = Kind::kAdam;
    o.beta1 = beta1;
    o.beta2 = beta2;
    o.epsilon = epsilon;
    return o;
  }
  static Optimizer AdamW(double weight_decay = 0.01, double beta1 = 0.9, double beta2 = 0.999,
                         double epsilon = 1e-8) {
    Optimizer o = Adam(beta1, beta2, epsilon);
    o.kind = Kind::kAdamW;
    o.weight_decay = weight_decay;
    return o;
  }
  std::string name() const;
};

// The i64 scalar Variable "global_step", created on first use: the number of completed training
// steps. TrainStep increments it; Dropout layers use it as their random counter.
Tensor GlobalStep(Graph& graph);

struct TrainStepResult {
  Tensor loss;
  Tensor learning_rate;           // the Placeholder "learning_rate" (scalar, loss's dtype)
  std::vector<Tensor> gradients;  // d(loss)/d(parameter), in parameter order
};

// Appends gradients of `loss` with respect to `parameters` (Variables), optimizer slots (Variables
// named "<parameter>/<slot>", zero-initialized), the update of every parameter and slot, and the
// increment of global_step, and records them in the graph's TrainingInfo; adds the graph output
// "loss". Running the graph's updates (Interpreter::RunTrainingStep, or compiled code) performs one
// step.
absl::StatusOr<TrainStepResult> TrainStep(Tensor loss, const std::vector<Tensor>& parameters,
                                          const Optimizer& optimizer);

}  // namespace kiln

#endif  // KILN_GRAPH_OPTIMIZERS_H_
