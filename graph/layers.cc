#include "graph/layers.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "graph/optimizers.h"

namespace kiln {
namespace layers {

ops::Initializer MakeInitializer(Init init, int64_t fan_in, int64_t fan_out, int64_t seed) {
  const double in = static_cast<double>(fan_in), out = static_cast<double>(fan_out);
  switch (init) {
    case Init::kGlorotUniform: {
      const double limit = std::sqrt(6.0 / (in + out));
      return ops::Initializer::Uniform(-limit, limit, seed);
    }
    case Init::kGlorotNormal: return ops::Initializer::Normal(0, std::sqrt(2.0 / (in + out)), seed);
    case Init::kHeUniform: {
      const double limit = std::sqrt(6.0 / in);
      return ops::Initializer::Uniform(-limit, limit, seed);
    }
    case Init::kHeNormal: return ops::Initializer::Normal(0, std::sqrt(2.0 / in), seed);
    case Init::kZeros: return ops::Initializer::Zeros();
  }
  return ops::Initializer::Zeros();
}

Model::Model(Graph& graph, int64_t seed, bool training, DType dtype)
    : graph_(graph), seed_(seed), training_(training), dtype_(dtype) {}

std::string Model::LayerName(const std::string& kind) {
  int& n = name_counts_[kind];
  std::string name = n == 0 ? kind : absl::StrCat(kind, "_", n);
  ++n;
  return name;
}

Tensor Model::Param(const std::string& name, Shape shape, ops::Initializer init, SourceLoc loc) {
  Tensor v = ops::Variable(graph_, name, dtype_, std::move(shape), std::move(init), loc);
  if (v.valid()) parameters_.push_back(v);
  return v;
}

Tensor Model::Activate(Tensor x, Activation activation, SourceLoc loc) {
  switch (activation) {
    case Activation::kNone: return x;
    case Activation::kRelu: return ops::Relu(x, loc);
    case Activation::kTanh: return ops::Tanh(x, loc);
    case Activation::kSigmoid: return ops::Sigmoid(x, loc);
    case Activation::kGelu: return ops::Gelu(x, false, loc);
  }
  return x;
}

namespace {
// Records a layer misuse on the graph and returns a failed handle.
Tensor Fail(Graph& g, const std::string& layer, SourceLoc loc, const std::string& message) {
  g.RecordError(
      absl::InvalidArgumentError(absl::StrCat(layer, " (", loc.ToString(), "): ", message)));
  return g.Output(-1);
}
}  // namespace

Tensor Model::Dense(Tensor x, int64_t units, Activation activation, Init init, SourceLoc loc) {
  const std::string name = LayerName("dense");
  if (x.valid() && x.rank() != 2) {
    return Fail(graph_, "Dense '" + name + "'", loc,
                absl::StrCat("expects a [batch, features] input, got ", x.type().ToString()));
  }
  if (units <= 0) return Fail(graph_, "Dense '" + name + "'", loc, "units must be positive");
  NameScope scope(graph_, name);
  const int64_t in = x.valid() ? x.shape()[1] : 1;
  Tensor kernel = Param("kernel", {in, units}, MakeInitializer(init, in, units, NextSeed()), loc);
  Tensor bias = Param("bias", {units}, ops::Initializer::Zeros(), loc);
  return Activate(ops::Add(ops::MatMul(x, kernel, false, false, loc), bias, loc), activation, loc);
}

Tensor Model::Conv2D(Tensor x, int64_t filters, int64_t kernel_h, int64_t kernel_w,
                     const ops::Conv2DOptions& options, Activation activation, Init init,
                     SourceLoc loc) {
  const std::string name = LayerName("conv2d");
  if (x.valid() && x.rank() != 4) {
    return Fail(graph_, "Conv2D '" + name + "'", loc,
                absl::StrCat("expects an NHWC input, got ", x.type().ToString()));
  }
  if (filters <= 0 || kernel_h <= 0 || kernel_w <= 0) {
    return Fail(graph_, "Conv2D '" + name + "'", loc, "filters and kernel sizes must be positive");
  }
  NameScope scope(graph_, name);
  const int64_t c = x.valid() ? x.shape()[3] : 1;
  Tensor kernel = Param(
      "kernel", {kernel_h, kernel_w, c, filters},
      MakeInitializer(init, kernel_h * kernel_w * c, kernel_h * kernel_w * filters, NextSeed()),
      loc);
  Tensor bias = Param("bias", {filters}, ops::Initializer::Zeros(), loc);
  return Activate(ops::Add(ops::Conv2D(x, kernel, options, loc), bias, loc), activation, loc);
}

Tensor Model::MaxPool2D(Tensor x, const ops::Pool2DOptions& options, SourceLoc loc) {
  NameScope scope(graph_, LayerName("max_pool2d"));
  return ops::MaxPool2D(x, options, loc);
}

Tensor Model::Flatten(Tensor x, SourceLoc loc) {
  const std::string name = LayerName("flatten");
  if (x.valid() && x.rank() < 1) {
    return Fail(graph_, "Flatten '" + name + "'", loc, "expects a batch dimension, got a scalar");
  }
  NameScope scope(graph_, name);
  const int64_t n = x.valid() ? x.shape()[0] : 1;
  return ops::Reshape(x, {n, -1}, loc);
}

Tensor Model::Dropout(Tensor x, double rate, SourceLoc loc) {
  const std::string name = LayerName("dropout");
  const int64_t seed = NextSeed();
  if (!training_) return x;
  NameScope scope(graph_, name);
  return ops::Dropout(x, rate, seed, GlobalStep(graph_), loc);
}

Tensor Model::LayerNorm(Tensor x, double epsilon, SourceLoc loc) {
  const std::string name = LayerName("layer_norm");
  if (x.valid() && x.rank() < 1) {
    return Fail(graph_, "LayerNorm '" + name + "'", loc, "expects at least one axis");
  }
  NameScope scope(graph_, name);
  const int64_t d = x.valid() ? x.shape()[x.rank() - 1] : 1;
  Tensor gamma = Param("gamma", {d}, ops::Initializer::Constant(1), loc);
  Tensor beta = Param("beta", {d}, ops::Initializer::Zeros(), loc);
  return ops::LayerNorm(x, gamma, beta, epsilon, loc);
}

Tensor Model::Embedding(Tensor ids, int64_t vocab, int64_t dim, SourceLoc loc) {
  const std::string name = LayerName("embedding");
  if (vocab <= 0 || dim <= 0) {
    return Fail(graph_, "Embedding '" + name + "'", loc, "vocab and dim must be positive");
  }
  NameScope scope(graph_, name);
  Tensor table = Param("embeddings", {vocab, dim}, ops::Initializer::Normal(0, 1, NextSeed()), loc);
  return ops::Gather(table, ids, loc);
}

}  // namespace layers

namespace losses {

Tensor SoftmaxCrossEntropy(Tensor logits, Tensor labels, SourceLoc loc) {
  Tensor per_example = IsFloat(labels.dtype())
                           ? ops::SoftmaxCrossEntropy(logits, labels, loc)
                           : ops::SparseSoftmaxCrossEntropy(logits, labels, loc);
  return ops::ReduceMean(per_example, {}, false, loc);
}

Tensor MeanSquaredError(Tensor prediction, Tensor target, SourceLoc loc) {
  return ops::ReduceMean(ops::Square(ops::Sub(prediction, target, loc), loc), {}, false, loc);
}

}  // namespace losses

namespace metrics {

Tensor Accuracy(Tensor logits, Tensor labels, SourceLoc loc) {
  Tensor predicted = ops::ArgMax(
      logits, -1, labels.valid() && IsInteger(labels.dtype()) ? labels.dtype() : DType::kI64, loc);
  return ops::ReduceMean(ops::Cast(ops::Equal(predicted, labels, loc), logits.dtype(), loc), {},
                         false, loc);
}

}  // namespace metrics
}  // namespace kiln
