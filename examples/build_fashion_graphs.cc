// Builds the Fashion-MNIST training graphs with the layers API and writes them as graph files:
//   OUT_DIR/fashion_mlp_train.pb  MLP 784-512-512-10, Adam, batch 128
//   OUT_DIR/fashion_cnn_train.pb  CNN (see examples/fashion_models.h), SGD, batch 64
// Each graph takes "images", "labels" and "learning_rate", and outputs "loss" and "accuracy";
// running its training updates performs one step. Inspect them with `kilnc inspect`.
// Usage: build_fashion_graphs OUT_DIR [--text]
#include <cstdio>
#include <string>

#include "examples/fashion_models.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "proto/graph_def.h"

namespace kiln {
namespace {

absl::Status Write(bool cnn, const std::string& path) {
  const int64_t batch = cnn ? 64 : 128;
  Graph g;
  layers::Model model(g, /*seed=*/1);
  Tensor images = ops::Placeholder(g, "images", DType::kF32,
                                   cnn ? Shape({batch, 28, 28, 1}) : Shape({batch, 784}));
  Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {batch});
  Tensor logits = cnn ? examples::FashionCnn(model, images) : examples::FashionMlp(model, images);
  Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
  g.AddOutput("accuracy", metrics::Accuracy(logits, labels));
  absl::StatusOr<TrainStepResult> step =
      TrainStep(loss, model.parameters(), cnn ? Optimizer::Sgd() : Optimizer::Adam());
  if (!step.ok()) return step.status();
  return SaveGraph(g, path);
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && std::string(argv[2]) != "--text")) {
    std::fprintf(stderr, "usage: %s OUT_DIR [--text]\n", argv[0]);
    return 2;
  }
  const std::string ext = argc == 3 ? ".pbtxt" : ".pb";
  for (bool cnn : {false, true}) {
    const std::string path =
        std::string(argv[1]) + (cnn ? "/fashion_cnn_train" : "/fashion_mlp_train") + ext;
    absl::Status s = kiln::Write(cnn, path);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    std::printf("wrote %s\n", path.c_str());
  }
  return 0;
}
