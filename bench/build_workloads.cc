// Writes the graphs of Kiln's CPU benchmark workloads (all f32), compiled by bench/BUILD and
// timed by bench/kiln_bench.cc:
//   w1b1, w1b128  MLP 784-512-512-10 (ReLU) inference: images [1|128, 784] → logits [n, 10]
//   w2            that MLP's training step, batch 128, SGD: images, labels (i32),
//                 learning_rate → loss
//   w3            the CNN's training step (examples::FashionCnn), batch 64, SGD
//   w4a           y = gelu(x * a + b) (exact erf GELU): x [4096, 1024], a and b [1024] per column
//   w4b           y = layernorm(x) * gamma + beta over the last axis, eps 1e-5: x [4096, 1024]
//   w5            one post-norm transformer encoder layer, inference: x [8, 128, 256] → y,
//                 4 heads of 64, FFN 1024 (ReLU), no dropout, no mask
// Usage: build_workloads OUT_DIR (writes OUT_DIR/<name>.pb)
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "examples/fashion_models.h"
#include "graph/layers.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "proto/graph_def.h"

namespace kiln {
namespace {

using layers::Activation;
constexpr DType kF32 = DType::kF32;

absl::Status MlpInference(Graph& g, int64_t batch) {
  layers::Model model(g, /*seed=*/1, /*training=*/false);
  Tensor images = ops::Placeholder(g, "images", kF32, {batch, 784});
  g.AddOutput("logits", examples::FashionMlp(model, images));
  return absl::OkStatus();
}

// One SGD step of the MLP (batch 128, images [n, 784]) or the CNN (batch 64, images NHWC
// [n, 28, 28, 1]).
absl::Status TrainingStep(Graph& g, bool cnn) {
  const int64_t batch = cnn ? 64 : 128;
  layers::Model model(g, /*seed=*/1, /*training=*/true);
  Tensor images =
      ops::Placeholder(g, "images", kF32, cnn ? Shape({batch, 28, 28, 1}) : Shape({batch, 784}));
  Tensor logits = cnn ? examples::FashionCnn(model, images) : examples::FashionMlp(model, images);
  Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {batch});
  Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
  return TrainStep(loss, model.parameters(), Optimizer::Sgd()).status();
}

absl::Status GeluAffine(Graph& g) {
  Tensor x = ops::Placeholder(g, "x", kF32, {4096, 1024});
  Tensor a = ops::Placeholder(g, "a", kF32, {1024});
  Tensor b = ops::Placeholder(g, "b", kF32, {1024});
  g.AddOutput("y", ops::Gelu(x * a + b, /*approximate_tanh=*/false));
  return absl::OkStatus();
}

absl::Status LayerNormRows(Graph& g) {
  Tensor x = ops::Placeholder(g, "x", kF32, {4096, 1024});
  Tensor gamma = ops::Placeholder(g, "gamma", kF32, {1024});
  Tensor beta = ops::Placeholder(g, "beta", kF32, {1024});
  g.AddOutput("y", ops::LayerNorm(x, gamma, beta, /*epsilon=*/1e-5));
  return absl::OkStatus();
}

absl::Status EncoderLayer(Graph& g) {
  constexpr int64_t kBatch = 8, kSeq = 128, kModel = 256, kHeads = 4, kHeadDim = 64, kFfn = 1024;
  layers::Model model(g, /*seed=*/1, /*training=*/false);
  Tensor input = ops::Placeholder(g, "x", kF32, {kBatch, kSeq, kModel});
  Tensor x = ops::Reshape(input, {kBatch * kSeq, kModel});
  // [b*s, d] → [b, heads, s, head_dim] and back.
  auto split_heads = [&](Tensor t) {
    return ops::Transpose(ops::Reshape(t, {kBatch, kSeq, kHeads, kHeadDim}), {0, 2, 1, 3});
  };
  Tensor q = split_heads(model.Dense(x, kModel));
  Tensor k = split_heads(model.Dense(x, kModel));
  Tensor v = split_heads(model.Dense(x, kModel));
  Tensor scores = ops::BatchMatMul(q, k, false, /*transpose_b=*/true) * (1.0 / 8);  // 1/sqrt(64)
  Tensor heads = ops::BatchMatMul(ops::Softmax(scores, -1), v);                     // [b, h, s, hd]
  Tensor attention = ops::Reshape(ops::Transpose(heads, {0, 2, 1, 3}), {kBatch * kSeq, kModel});
  x = model.LayerNorm(x + model.Dense(attention, kModel));
  x = model.LayerNorm(x + model.Dense(model.Dense(x, kFfn, Activation::kRelu), kModel));
  g.AddOutput("y", ops::Reshape(x, {kBatch, kSeq, kModel}));
  return absl::OkStatus();
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  using Builder = std::function<absl::Status(kiln::Graph&)>;
  const std::vector<std::pair<std::string, Builder>> workloads = {
      {"w1b1", [](kiln::Graph& g) { return kiln::MlpInference(g, 1); }},
      {"w1b128", [](kiln::Graph& g) { return kiln::MlpInference(g, 128); }},
      {"w2", [](kiln::Graph& g) { return kiln::TrainingStep(g, /*cnn=*/false); }},
      {"w3", [](kiln::Graph& g) { return kiln::TrainingStep(g, /*cnn=*/true); }},
      {"w4a", kiln::GeluAffine},
      {"w4b", kiln::LayerNormRows},
      {"w5", kiln::EncoderLayer},
  };
  for (const auto& [name, build] : workloads) {
    kiln::Graph g;
    absl::Status s = build(g);
    if (s.ok()) s = g.status();  // the first shape or attribute error of any op
    if (s.ok()) s = kiln::SaveGraph(g, std::string(argv[1]) + "/" + name + ".pb");
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), s.ToString().c_str());
      return 1;
    }
  }
  return 0;
}
