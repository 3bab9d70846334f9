// Writes a small inference graph (an MLP with a softmax, batch 4) for the bundle tests, with an
// input batch and the interpreter's outputs for it, into OUT_DIR: model.pb, inputs.bin (f32 [4,
// 16]) and expected.bin (f32 [4, 3], the probabilities).
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/ops.h"
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

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::string dir = argv[1];
  kiln::Literal input(kiln::DType::kF32, kiln::Shape({4, 16}));
  for (size_t i = 0; i < input.values.size(); ++i) input.values[i] = 0.05 * (i % 23) - 0.4;
  input.RoundToDType();
  // model.pb and a second version of it, model2.pb: the same graph with other weights.
  return WriteFloats(dir + "/inputs.bin", input.values) &&
                 Write(dir, 5, "model.pb", "expected.bin", input) &&
                 Write(dir, 6, "model2.pb", "expected2.bin", input)
             ? 0
             : 1;
}
