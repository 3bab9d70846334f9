// End to end on the interpreter: an MLP built with the layers API, trained with SGD on a fixed
// synthetic problem (three interleaved spirals), must fit it — proof that layers, gradients,
// optimizer updates and the interpreter connect.
#include "catch2/catch.hpp"
#include "examples/spirals.h"
#include "graph/interpreter.h"
#include "graph/layers.h"
#include "graph/optimizers.h"
#include "graph/ops.h"
#include "test/status_matchers.h"

namespace kiln {
namespace {

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
  examples::MakeSpirals(n, feeds["x"], feeds["labels"]);
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
