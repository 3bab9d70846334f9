#include "examples/spirals.h"

#include <cmath>

#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "graph/status_macros.h"

namespace kiln {
namespace examples {

void MakeSpirals(int n, Literal& x, Literal& y) {
  x = Literal(DType::kF32, {3 * n, 2});
  y = Literal(DType::kI32, {3 * n});
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < n; ++i) {
      const double r = static_cast<double>(i) / n;
      const double t = c * 4.0 + 4.0 * r + 0.2 * std::sin(7.0 * i);  // fixed "noise"
      x.values[2 * (c * n + i)] = r * std::sin(t);
      x.values[2 * (c * n + i) + 1] = r * std::cos(t);
      y.values[c * n + i] = c;
    }
  }
  x.RoundToDType();
}

absl::StatusOr<SpiralsTraining> BuildSpiralsTraining(Graph& g, int n, double learning_rate) {
  layers::Model model(g, /*seed=*/3);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {3 * n, 2});
  Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {3 * n});
  Tensor h = model.Dense(x, 64, layers::Activation::kRelu);
  h = model.Dense(h, 64, layers::Activation::kRelu);
  Tensor logits = model.Dense(h, 3);
  SpiralsTraining t;
  t.loss = losses::SoftmaxCrossEntropy(logits, labels);
  t.accuracy = metrics::Accuracy(logits, labels);
  KILN_RETURN_IF_ERROR(TrainStep(t.loss, model.parameters(), Optimizer::Sgd()).status());
  MakeSpirals(n, t.feeds["x"], t.feeds["labels"]);
  t.feeds["learning_rate"] = Literal::Scalar(DType::kF32, learning_rate);
  return t;
}

}  // namespace examples
}  // namespace kiln
