// Builds the Fashion-MNIST MLP or CNN training graph with the layers API in float64, computes the
// loss and its gradients with respect to every parameter on the reference interpreter, and writes
// parameters, inputs, loss and gradients to a file for torch_check.py to recompute with PyTorch.
//
// Usage: export_gradients mlp|cnn OUT_FILE
// File: a sequence of records {u32 name_len, name, u32 rank, i64 dims[rank], f64 values[...]}.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "examples/fashion_models.h"
#include "graph/autodiff.h"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/ops.h"

namespace kiln {
namespace {

void Write(std::ofstream& out, const std::string& name, const Literal& value) {
  const uint32_t len = static_cast<uint32_t>(name.size()), rank = value.shape.rank();
  out.write(reinterpret_cast<const char*>(&len), 4);
  out.write(name.data(), len);
  out.write(reinterpret_cast<const char*>(&rank), 4);
  for (int64_t d : value.shape.dims()) out.write(reinterpret_cast<const char*>(&d), 8);
  out.write(reinterpret_cast<const char*>(value.values.data()), 8 * value.size());
}

int Main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "mlp" && std::string(argv[1]) != "cnn")) {
    std::fprintf(stderr, "usage: %s mlp|cnn OUT_FILE\n", argv[0]);
    return 2;
  }
  const bool cnn = std::string(argv[1]) == "cnn";
  const int64_t batch = cnn ? 4 : 8;
  Graph g;
  layers::Model model(g, /*seed=*/7, /*training=*/true, DType::kF64);
  Tensor images = ops::Placeholder(g, "images", DType::kF64,
                                   cnn ? Shape({batch, 28, 28, 1}) : Shape({batch, 784}));
  Tensor labels = ops::Placeholder(g, "labels", DType::kI64, {batch});
  Tensor logits = cnn ? examples::FashionCnn(model, images) : examples::FashionMlp(model, images);
  Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
  auto grads = AddGradients(loss, model.parameters());
  if (!grads.ok()) {
    std::fprintf(stderr, "%s\n", grads.status().ToString().c_str());
    return 1;
  }

  // Inputs in [0, 1) like normalized pixels; labels cover the classes.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> pixel(0, 1);
  Feeds feeds;
  feeds["images"] = Literal(DType::kF64, images.shape());
  for (double& v : feeds["images"].values) v = pixel(rng);
  feeds["labels"] = Literal(DType::kI64, {batch});
  for (int64_t i = 0; i < batch; ++i)
    feeds["labels"].values[i] = static_cast<double>((3 * i + 1) % 10);

  auto interpreter = Interpreter::Create(g);
  if (!interpreter.ok()) {
    std::fprintf(stderr, "%s\n", interpreter.status().ToString().c_str());
    return 1;
  }
  std::vector<Tensor> fetches = *grads;
  fetches.push_back(loss);
  auto out = interpreter->Run(feeds, fetches);
  if (!out.ok()) {
    std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
    return 1;
  }
  std::ofstream file(argv[2], std::ios::binary);
  Write(file, "images", feeds["images"]);
  Write(file, "labels", feeds["labels"]);
  for (size_t i = 0; i < model.parameters().size(); ++i) {
    const std::string& name = g.node(model.parameters()[i].node()).name;
    Write(file, "param:" + name, interpreter->variables().at(name));
    Write(file, "grad:" + name, (*out)[i]);
  }
  Write(file, "loss", out->back());
  return file.good() ? 0 : 1;
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) { return kiln::Main(argc, argv); }
