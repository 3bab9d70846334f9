// Writes the Fashion-MNIST graphs the trainer and the classifier compile (kiln_aot_library):
//   OUT_DIR/{mlp,cnn}_train.pb  one training step: images, labels, learning_rate → loss, accuracy
//                               (MLP: Adam, batch 128; CNN: SGD, batch 64); updates every variable
//   OUT_DIR/{mlp,cnn}_eval.pb   the same model forward on a test batch of 500 → loss, accuracy
//   OUT_DIR/{mlp,cnn}_infer.pb  one image → probabilities [1, 10]
// The three graphs of a model build the same layers in the same order, so their variables have the
// same names: the trainer copies weights between them by name.
// Usage: build_graphs OUT_DIR
#include <cstdio>
#include <string>

#include "examples/fashion_models.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "graph/status_macros.h"
#include "proto/graph_def.h"

namespace kiln {
namespace {

enum class Kind { kTrain, kEval, kInfer };

absl::Status Write(bool cnn, Kind kind, const std::string& path) {
  const int64_t batch = kind == Kind::kInfer ? 1 : kind == Kind::kEval ? 500 : cnn ? 64 : 128;
  Graph g;
  layers::Model model(g, /*seed=*/1, /*training=*/kind == Kind::kTrain);
  Tensor images = ops::Placeholder(g, "images", DType::kF32,
                                   cnn ? Shape({batch, 28, 28, 1}) : Shape({batch, 784}));
  Tensor logits = cnn ? examples::FashionCnn(model, images) : examples::FashionMlp(model, images);
  if (kind == Kind::kInfer) {
    g.AddOutput("probabilities", ops::Softmax(logits, 1));
    return SaveGraph(g, path);
  }
  Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {batch});
  Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
  g.AddOutput("accuracy", metrics::Accuracy(logits, labels));
  if (kind == Kind::kEval) {
    g.AddOutput("loss", loss);
    return SaveGraph(g, path);
  }
  KILN_RETURN_IF_ERROR(
      TrainStep(loss, model.parameters(), cnn ? Optimizer::Sgd() : Optimizer::Adam()).status());
  return SaveGraph(g, path);
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  using kiln::Kind;
  for (bool cnn : {false, true}) {
    for (auto [kind, suffix] :
         {std::make_pair(Kind::kTrain, "_train"), std::make_pair(Kind::kEval, "_eval"),
          std::make_pair(Kind::kInfer, "_infer")}) {
      const std::string path = std::string(argv[1]) + (cnn ? "/cnn" : "/mlp") + suffix + ".pb";
      absl::Status s = kiln::Write(cnn, kind, path);
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", path.c_str(), s.ToString().c_str());
        return 1;
      }
    }
  }
  return 0;
}
