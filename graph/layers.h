// A small Keras-like layers API over kiln::ops, plus losses and metrics.
//
//   kiln::Graph g;
//   kiln::layers::Model model(g, /*seed=*/1);
//   kiln::Tensor x = kiln::ops::Placeholder(g, "images", kiln::DType::kF32, {128, 784});
//   kiln::Tensor h = model.Dense(x, 512, kiln::layers::Activation::kRelu);
//   kiln::Tensor logits = model.Dense(h, 10);
//   kiln::Tensor loss = kiln::losses::SoftmaxCrossEntropy(logits, labels);
//
// Layers get unique names ("dense", "dense_1", ...), their variables are "<layer>/kernel" and
// "<layer>/bias", and every initializer is seeded from the model's seed and the layer's position,
// so the same program builds the same initial weights on every machine.
#ifndef KILN_GRAPH_LAYERS_H_
#define KILN_GRAPH_LAYERS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/ops.h"

namespace kiln {
namespace layers {

enum class Activation { kNone, kRelu, kTanh, kSigmoid, kGelu };
// Glorot (Xavier) and He (Kaiming) initializers; the normal forms are untruncated.
enum class Init { kGlorotUniform, kGlorotNormal, kHeUniform, kHeNormal, kZeros };

// The initializer `init` for a weight with the given fan-in and fan-out.
ops::Initializer MakeInitializer(Init init, int64_t fan_in, int64_t fan_out, int64_t seed);

class Model {
 public:
  // `training` selects the training behaviour of Dropout (inference: identity).
  explicit Model(Graph& graph, int64_t seed = 0, bool training = true, DType dtype = DType::kF32);

  // x [n, in] → act(x · kernel + bias) [n, units].
  Tensor Dense(Tensor x, int64_t units, Activation activation = Activation::kNone,
               Init init = Init::kGlorotUniform, KILN_LOC);
  // NHWC x → act(conv(x, kernel [kh,kw,c,filters]) + bias).
  Tensor Conv2D(Tensor x, int64_t filters, int64_t kernel_h, int64_t kernel_w,
                const ops::Conv2DOptions& options = {}, Activation activation = Activation::kNone,
                Init init = Init::kGlorotUniform, KILN_LOC);
  Tensor MaxPool2D(Tensor x, const ops::Pool2DOptions& options = {}, KILN_LOC);
  // [n, ...] → [n, prod(...)].
  Tensor Flatten(Tensor x, KILN_LOC);
  // Inverted dropout in training (a fresh mask every step, from global_step); identity otherwise.
  Tensor Dropout(Tensor x, double rate, KILN_LOC);
  // LayerNorm over the last axis with learned gamma (ones) and beta (zeros).
  Tensor LayerNorm(Tensor x, double epsilon = 1e-5, KILN_LOC);
  // Integer ids → rows of a [vocab, dim] table initialized N(0, 1) (as torch.nn.Embedding).
  Tensor Embedding(Tensor ids, int64_t vocab, int64_t dim, KILN_LOC);

  // Trainable variables, in creation order.
  const std::vector<Tensor>& parameters() const { return parameters_; }
  Graph& graph() const { return graph_; }

 private:
  std::string LayerName(const std::string& kind);
  int64_t NextSeed() { return seed_ * 1000003 + layer_count_++; }
  Tensor Param(const std::string& name, Shape shape, ops::Initializer init, SourceLoc loc);
  Tensor Activate(Tensor x, Activation activation, SourceLoc loc);

  Graph& graph_;
  int64_t seed_;
  bool training_;
  DType dtype_;
  int64_t layer_count_ = 0;
  std::map<std::string, int> name_counts_;
  std::vector<Tensor> parameters_;
};

}  // namespace layers

namespace losses {
// Mean over the batch of softmax cross-entropy: integer labels [n] (sparse) or a distribution
// [n,c].
Tensor SoftmaxCrossEntropy(Tensor logits, Tensor labels, KILN_LOC);
// mean((prediction - target)^2) over all elements.
Tensor MeanSquaredError(Tensor prediction, Tensor target, KILN_LOC);
}  // namespace losses

namespace metrics {
// Fraction of rows whose largest logit is at the integer label, as a scalar of logits' dtype.
Tensor Accuracy(Tensor logits, Tensor labels, KILN_LOC);
}  // namespace metrics

}  // namespace kiln

#endif  // KILN_GRAPH_LAYERS_H_
