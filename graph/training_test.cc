// End to end on the interpreter: an MLP built with the layers API, trained with SGD on a fixed
// synthetic problem (three interleaved spirals), must fit it — proof that layers, gradients,
// optimizer updates and the interpreter connect.
#include <cmath>

#include "catch2/catch.hpp"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/optimizers.h"
#include "graph/ops.h"
#include "test/status_matchers.h"

namespace kiln {
namespace {

// n points per class on three spirals (cs231n's classic), deterministic.
void Spirals(int n, Literal& x, Literal& y) {
  x = Literal(DType::kF32, {3 * n, 2});
  y = Literal(DType::kI32, {3 * n});
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < n; ++i) {
      const double r = static_cast<double>(i) / n;
      const double t = c * 4.0 + 4.0 * r + 0.2 * std::sin(7.0 * i);  // fixed "noise"
      x.values[2 * (c * n + i)] = r * std::sin(t);
      x.values[2 * (c * n + i) + 1] = r * std::cos(t);
      y.values[c * n + i] = c;
    }
  }
  x.RoundToDType();
}

TEST_CASE("An MLP trained with SGD on the interpreter fits three spirals") {
  const int n = 100;
  Graph g;
  layers::Model model(g, /*seed=*/3);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {3 * n, 2});
  Tensor labels = ops::Placeholder(g, "labels", DType::kI32, {3 * n});
  Tensor h = model.Dense(x, 64, layers::Activation::kRelu);
  h = model.Dense(h, 64, layers::Activation::kRelu);
  Tensor logits = model.Dense(h, 3);
  Tensor loss = losses::SoftmaxCrossEntropy(logits, labels);
  Tensor accuracy = metrics::Accuracy(logits, labels);
  auto step = TrainStep(loss, model.parameters(), Optimizer::Sgd());
  REQUIRE_THAT(step.status(), IsOk());

  Feeds feeds;
  Spirals(n, feeds["x"], feeds["labels"]);
  feeds["learning_rate"] = Literal::Scalar(DType::kF32, 1.0);
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());
  double first = 0, last = 0;
  for (int i = 0; i < 1500; ++i) {
    auto out = interpreter->RunTrainingStep(feeds, {loss});
    REQUIRE_THAT(out.status(), IsOk());
    if (i == 0) first = (*out)[0].values[0];
    last = (*out)[0].values[0];
  }
  auto acc = interpreter->Run(feeds, {loss, accuracy});
  REQUIRE_THAT(acc.status(), IsOk());
  INFO("loss " << first << " -> " << (*acc)[0].values[0] << ", accuracy " << (*acc)[1].values[0]);
  REQUIRE(first > 1.0);  // ~log(3) at the start
  REQUIRE(last < 0.1);
  REQUIRE((*acc)[0].values[0] < 0.1);
  REQUIRE((*acc)[1].values[0] > 0.97);
}

}  // namespace
}  // namespace kiln
