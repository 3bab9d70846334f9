// Kiln's graph API end to end on the reference interpreter: build an MLP with the layers API,
// append gradients and an SGD update with TrainStep, and train it on three spirals. Usage:
// spirals_train [STEPS]
#include <cstdio>
#include <cstdlib>

#include "examples/spirals.h"
#include "graph/interpreter.h"

int main(int argc, char** argv) {
  using namespace kiln;  // NOLINT: example brevity
  const int steps = argc > 1 ? std::atoi(argv[1]) : 1500;
  Graph g;
  auto spirals = examples::BuildSpiralsTraining(g, 100, /*learning_rate=*/1.0);
  if (!spirals.ok()) {
    std::fprintf(stderr, "%s\n", spirals.status().ToString().c_str());
    return 1;
  }
  const Tensor loss = spirals->loss, accuracy = spirals->accuracy;
  const Feeds& feeds = spirals->feeds;
  std::printf("spirals: %d nodes (forward, gradients and SGD update), %zu parameter tensors\n",
              g.num_nodes(), g.training().parameters.size());
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
      std::printf("step %5d  loss %.4f  accuracy %.3f\n", i, (*out)[0].values[0],
                  (*out)[1].values[0]);
    }
  }
  return 0;
}
