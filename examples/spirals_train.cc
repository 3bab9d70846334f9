// Kiln's graph API end to end on the reference interpreter: build an MLP with the layers API, append
// gradients and an SGD update with TrainStep, and train it on three spirals.
// Usage: spirals_train [STEPS]
#include <cstdio>
#include <cstdlib>

#include "examples/spirals.h"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"

int main(int argc, char** argv) {
  using namespace kiln;  // NOLINT: example brevity
  const int steps = argc > 1 ? std::atoi(argv[1]) : 1500;
  const int n = 100;
  Graph g;
  layers::Model model(g, /*seed=*/3);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {3 * n, 2});
  Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {3 * n});
  Tensor h = model.Dense(x, 64, layers::Activation::kRelu);
  h = model.Dense(h, 64, layers::Activation::kRelu);
  Tensor logits = model.Dense(h, 3);
  Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
  Tensor accuracy = metrics::Accuracy(logits, labels);
  auto step = TrainStep(loss, model.parameters(), Optimizer::Sgd());
  if (!step.ok()) {
    std::fprintf(stderr, "%s\n", step.status().ToString().c_str());
    return 1;
  }
  std::printf("spirals: %d nodes (forward, gradients and SGD update), %zu parameter tensors\n",
              g.num_nodes(), model.parameters().size());

  Feeds feeds;
  examples::MakeSpirals(n, feeds["x"], feeds["labels"]);
  feeds["learning_rate"] = Literal::Scalar(DType::kF32, 1.0);
  auto interpreter = Interpreter::Create(g);
  if (!interpreter.ok()) {
    std::fprintf(stderr, "%s\n", interpreter.status().ToString().c_str());
    return 1;
  }
  for (int i = 0; i <= steps; ++i) {
    auto out = i < steps ? interpreter->RunTrainingStep(feeds, {loss, accuracy})
                         : interpreter->Run(feeds, {loss, accuracy});
    if (!out.ok()) {
      std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
      return 1;
    }
    if (i % 250 == 0 || i == steps) {
      std::printf("step %5d  loss %.4f  accuracy %.3f\n", i, (*out)[0].values[0], (*out)[1].values[0]);
    }
  }
  return 0;
}
