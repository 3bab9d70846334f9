// Writes a small regression training graph (MLP 8-16-2, MSE, Adam) and what the reference
// interpreter computes for it, for the ahead-of-time tests: OUT_DIR/regression.pb,
// OUT_DIR/inputs.bin (x then y then the learning rate, f32) and OUT_DIR/expected.txt (the loss of
// each of 5 steps, then the final value of every element of dense/kernel). Usage: make_regression
// OUT_DIR
#include <cstdio>
#include <fstream>
#include <random>

#include "graph/gradient_check.h"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "proto/graph_def.h"

int main(int argc, char** argv) {
  using namespace kiln;  // NOLINT
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  Graph g;
  layers::Model model(g, 6);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {32, 8});
  Tensor y = ops::Placeholder(g, "y", DType::kF32, {32, 2});
  Tensor h = model.Dense(x, 16, layers::Activation::kRelu);
  Tensor loss = losses::MeanSquaredError(model.Dense(h, 2), y);
  auto step = TrainStep(loss, model.parameters(), Optimizer::Adam());
  if (!step.ok() || !SaveGraph(g, dir + "/regression.pb").ok()) return 1;

  std::mt19937_64 rng(7);
  Feeds feeds = {{"x", RandomLiteral(DType::kF32, {32, 8}, rng)},
                 {"y", RandomLiteral(DType::kF32, {32, 2}, rng)},
                 {"learning_rate", Literal::Scalar(DType::kF32, 0.01)}};
  std::ofstream inputs(dir + "/inputs.bin", std::ios::binary);
  for (const char* name : {"x", "y", "learning_rate"}) {
    for (double v : feeds[name].values) {
      float f = static_cast<float>(v);
      inputs.write(reinterpret_cast<const char*>(&f), 4);
    }
  }
  auto interpreter = Interpreter::Create(g);
  std::ofstream expected(dir + "/expected.txt");
  expected.precision(9);
  for (int i = 0; i < 5; ++i) {
    auto out = interpreter->RunTrainingStep(feeds, {loss});
    if (!out.ok()) return 1;
    expected << (*out)[0].values[0] << "\n";
  }
  for (double v : interpreter->variables().at("dense/kernel").values) expected << v << "\n";
  return inputs.good() && expected.good() ? 0 : 1;
}
