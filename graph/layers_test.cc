#include "graph/layers.h"

#include <cmath>

#include "catch2/catch.hpp"
#include "graph/interpreter.h"
#include "graph/ops.h"
#include "graph/optimizers.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

TEST_CASE("Dense and Conv2D layers: names, shapes, parameters and initializer ranges") {
  Graph g;
  layers::Model model(g, 5);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {4, 8, 8, 3});
  Tensor c = model.Conv2D(x, 6, 3, 3, {}, layers::Activation::kRelu, layers::Init::kHeUniform);
  Tensor f = model.Flatten(model.MaxPool2D(c));
  Tensor d = model.Dense(f, 10);
  Tensor e = model.Dense(d, 2, layers::Activation::kTanh);
  REQUIRE_THAT(g.status(), IsOk());
  REQUIRE(c.shape() == Shape({4, 6, 6, 6}));
  REQUIRE(f.shape() == Shape({4, 54}));
  REQUIRE(e.shape() == Shape({4, 2}));
  REQUIRE(model.parameters().size() == 6);
  REQUIRE(g.node(model.parameters()[0].node()).name == "conv2d/kernel");
  REQUIRE(g.node(model.parameters()[2].node()).name == "dense/kernel");
  REQUIRE(g.node(model.parameters()[4].node()).name == "dense_1/kernel");

  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  // Glorot uniform limit sqrt(6 / (54 + 10)); He uniform limit sqrt(6 / (3*3*3)).
  const double glorot = std::sqrt(6.0 / 64), he = std::sqrt(6.0 / 27);
  double max_dense = 0, max_conv = 0;
  for (double v : interpreter->variables().at("dense/kernel").values)
    max_dense = std::max(max_dense, std::fabs(v));
  for (double v : interpreter->variables().at("conv2d/kernel").values)
    max_conv = std::max(max_conv, std::fabs(v));
  REQUIRE(max_dense <= glorot);
  REQUIRE(max_dense > 0.8 * glorot);
  REQUIRE(max_conv <= he);
  REQUIRE(max_conv > 0.8 * he);
  for (double v : interpreter->variables().at("dense/bias").values) REQUIRE(v == 0);
}

TEST_CASE("Normal initializers have the Glorot and He standard deviations") {
  auto stddev = [](layers::Init init, int64_t in, int64_t out) {
    Graph g;
    ops::Variable(g, "v", DType::kF64, {in, out}, layers::MakeInitializer(init, in, out, 1));
    auto interpreter = Interpreter::Create(g);
    double sq = 0;
    for (double x : interpreter->variables().at("v").values) sq += x * x;
    return std::sqrt(sq / (in * out));
  };
  REQUIRE(stddev(layers::Init::kGlorotNormal, 300, 100) ==
          Approx(std::sqrt(2.0 / 400)).epsilon(0.03));
  REQUIRE(stddev(layers::Init::kHeNormal, 300, 100) == Approx(std::sqrt(2.0 / 300)).epsilon(0.03));
}

TEST_CASE("Dropout layer: a fresh mask each training step, identity at inference") {
  Graph g;
  layers::Model model(g, 1, /*training=*/true);
  Tensor w = ops::Variable(g, "w", DType::kF32, {256}, ops::Initializer::Constant(1));
  Tensor y = model.Dropout(w, 0.5);
  Tensor loss = ops::ReduceSum(y);
  auto step = TrainStep(loss, {w}, Optimizer::Sgd());
  REQUIRE_THAT(step.status(), IsOk());
  auto interpreter = Interpreter::Create(g);
  Feeds feeds = {{"learning_rate", Literal::Scalar(DType::kF32, 0)}};
  auto first = interpreter->RunTrainingStep(feeds, {y});
  auto second = interpreter->RunTrainingStep(feeds, {y});
  REQUIRE_THAT(first.status(), IsOk());
  REQUIRE((*first)[0].values != (*second)[0].values);
  REQUIRE(g.FindNode("global_step") != nullptr);  // one counter, shared with the optimizer
  REQUIRE(g.FindNode("dropout/global_step") == nullptr);

  Graph h;
  layers::Model inference(h, 1, /*training=*/false);
  Tensor x = ops::Placeholder(h, "x", DType::kF32, {3});
  REQUIRE(inference.Dropout(x, 0.5).node() == x.node());
}

TEST_CASE("LayerNorm and Embedding layers") {
  Graph g;
  layers::Model model(g, 2);
  Tensor ids = ops::Const(g, Literal(DType::kI32, {2, 3}, {0, 4, 4, 1, 2, 3}));
  Tensor emb = model.Embedding(ids, 5, 8);
  Tensor out = model.LayerNorm(emb);
  REQUIRE_THAT(g.status(), IsOk());
  REQUIRE(emb.shape() == Shape({2, 3, 8}));
  REQUIRE(model.parameters().size() == 3);  // embeddings, gamma, beta
  auto interpreter = Interpreter::Create(g);
  auto values = interpreter->Run({}, {emb, out});
  REQUIRE_THAT(values.status(), IsOk());
  const Literal& table = interpreter->variables().at("embedding/embeddings");
  for (int k = 0; k < 8; ++k) {
    REQUIRE((*values)[0].values[1 * 8 + k] == table.values[4 * 8 + k]);  // id 4
  }
  double mean = 0;
  for (int k = 0; k < 8; ++k) mean += (*values)[1].values[k];
  REQUIRE(mean / 8 == Approx(0).margin(1e-6));
}

TEST_CASE("Losses and accuracy compute known values") {
  Graph g;
  Tensor logits = ops::Const(g, Literal(DType::kF64, {2, 3}, {1, 2, 3, 3, 2, 1}));
  Tensor labels = ops::Const(g, Literal(DType::kI32, {2}, {2, 1}));
  Tensor dense_labels = ops::Const(g, Literal(DType::kF64, {2, 3}, {0, 0, 1, 0, 1, 0}));
  Tensor sparse = losses::SoftmaxCrossEntropy(logits, labels);
  Tensor dense = losses::SoftmaxCrossEntropy(logits, dense_labels);
  Tensor acc = metrics::Accuracy(logits, labels);
  Tensor mse = losses::MeanSquaredError(logits, ops::ZerosLike(logits));
  auto interpreter = Interpreter::Create(g);
  auto v = interpreter->Run({}, {sparse, dense, acc, mse});
  REQUIRE_THAT(v.status(), IsOk());
  const double lse = std::log(std::exp(1) + std::exp(2) + std::exp(3));
  REQUIRE((*v)[0].values[0] == Approx(((lse - 3) + (lse - 2)) / 2).epsilon(1e-14));
  REQUIRE((*v)[1].values[0] == Approx((*v)[0].values[0]).epsilon(1e-14));
  REQUIRE((*v)[2].values[0] == 0.5);
  REQUIRE((*v)[3].values[0] == Approx(28.0 / 6));
}

TEST_CASE("Layer misuse names the layer and the user's line") {
  Graph g;
  layers::Model model(g);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2, 3, 4});
  const int line = __LINE__ + 1;
  model.Dense(x, 5);
  REQUIRE_THAT(g.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    "Dense 'dense' (layers_test.cc:" + std::to_string(line) +
                                        "): expects a [batch, features] input, got f32[2,3,4]"));
  Graph h;
  layers::Model m2(h);
  m2.Conv2D(ops::Placeholder(h, "y", DType::kF32, {2, 3}), 4, 3, 3);
  REQUIRE_THAT(h.status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "expects an NHWC input, got f32[2,3]"));
  Graph k;
  layers::Model m3(k);
  m3.Dense(ops::Placeholder(k, "z", DType::kF32, {2, 3}), 0);
  REQUIRE_THAT(k.status(), StatusIs(absl::StatusCode::kInvalidArgument, "units must be positive"));
  Graph n;
  layers::Model m4(n);
  m4.Dense(ops::Placeholder(n, "w", DType::kF64, {2, 3}), 4);  // model is f32, input f64
  REQUIRE_THAT(n.status(), StatusIs(absl::StatusCode::kInvalidArgument, "dtypes differ"));
}

}  // namespace
}  // namespace kiln
