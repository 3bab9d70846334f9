// Writes a small inference graph (an MLP with a softmax, batch 4) for the bundle tests, with an
// input batch and the interpreter's outputs for it, into OUT_DIR: model.pb, inputs.bin (f32 [4,
// 16]) and expected.bin (f32 [4, 3], the probabilities). Also its training step (Adam, labels
// 0, 1, 2, 0, learning rate 0.01) as train.pb, and train_expected.bin: the interpreter's loss at
// each of 3 steps from the initial weights, then the probabilities after them (f32 [3 + 12]).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "proto/graph_def.h"

namespace {

bool WriteFloats(const std::string& path, const std::vector<double>& values) {
  std::vector<float> f(values.begin(), values.end());
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(f.data()), f.size() * sizeof(float));
  return static_cast<bool>(out);
}

}  // namespace

// The model with weights from `seed`, its file `graph`, and its outputs for `input`.
bool Write(const std::string& dir, int seed, const std::string& graph, const std::string& expected,
           const kiln::Literal& input) {
  kiln::Graph g;
  kiln::layers::Model model(g, seed);
  kiln::Tensor x = kiln::ops::Placeholder(g, "x", kiln::DType::kF32, {4, 16});
  kiln::Tensor h = model.Dense(x, 32, kiln::layers::Activation::kRelu);
  kiln::Tensor logits = model.Dense(h, 3);
  g.AddOutput("probabilities", kiln::ops::Softmax(logits));
  if (!g.ok() || !kiln::SaveGraph(g, dir + "/" + graph).ok()) return false;
  auto interpreter = kiln::Interpreter::Create(g);
  if (!interpreter.ok()) return false;
  std::vector<kiln::Tensor> fetches;
  for (const auto& [name, ref] : g.outputs()) fetches.push_back(kiln::Tensor(&g, ref));
  auto out = interpreter->Run({{"x", input}}, fetches);
  if (!out.ok()) {
    std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
    return false;
  }
  return WriteFloats(dir + "/" + expected, (*out)[0].values);
}

// The same model's training step, and what 3 steps of it give (see the top).
bool WriteTraining(const std::string& dir, int seed, const kiln::Literal& input) {
  kiln::Graph g;
  kiln::layers::Model model(g, seed);
  kiln::Tensor x = kiln::ops::Placeholder(g, "x", kiln::DType::kF32, {4, 16});
  kiln::Tensor labels = kiln::ops::Placeholder(g, "labels", kiln::DType::kI32, {4});
  kiln::Tensor h = model.Dense(x, 32, kiln::layers::Activation::kRelu);
  kiln::Tensor logits = model.Dense(h, 3);
  kiln::Tensor probabilities = kiln::ops::Softmax(logits);
  kiln::Tensor loss = kiln::losses::SoftmaxCrossEntropy(logits, labels);
  auto step = kiln::TrainStep(loss, model.parameters(), kiln::Optimizer::Adam());
  if (!step.ok() || !g.ok() || !kiln::SaveGraph(g, dir + "/train.pb").ok()) return false;
  auto interpreter = kiln::Interpreter::Create(g);
  if (!interpreter.ok()) return false;
  const kiln::Feeds feeds = {
      {"x", input},
      {"labels", kiln::Literal(kiln::DType::kI32, kiln::Shape({4}), {0, 1, 2, 0})},
      {"learning_rate", kiln::Literal::Scalar(kiln::DType::kF32, 0.01)}};
  std::vector<double> expected;
  for (int i = 0; i < 3; ++i) {
    auto out = interpreter->RunTrainingStep(feeds, {loss});
    if (!out.ok()) {
      std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
      return false;
    }
    expected.push_back((*out)[0].values[0]);
  }
  auto out = interpreter->Run(feeds, {probabilities});
  if (!out.ok()) return false;
  expected.insert(expected.end(), (*out)[0].values.begin(), (*out)[0].values.end());
  return WriteFloats(dir + "/train_expected.bin", expected);
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  kiln::Literal input(kiln::DType::kF32, kiln::Shape({4, 16}));
  for (size_t i = 0; i < input.values.size(); ++i) input.values[i] = 0.05 * (i % 23) - 0.4;
  input.RoundToDType();
  // model.pb and a second version of it, model2.pb: the same graph with other weights.
  return WriteFloats(dir + "/inputs.bin", input.values) &&
                 Write(dir, 5, "model.pb", "expected.bin", input) &&
                 Write(dir, 6, "model2.pb", "expected2.bin", input) && WriteTraining(dir, 5, input)
             ? 0
             : 1;
}
