// End to end on the interpreter: an MLP built with the layers API, trained with SGD on a fixed
// synthetic problem (three interleaved spirals), must fit it — proof that layers, gradients,
// optimizer updates and the interpreter connect.
#include "catch2/catch.hpp"
#include "examples/spirals.h"
#include "graph/interpreter.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

TEST_CASE("An MLP trained with SGD on the interpreter fits three spirals") {
  Graph g;
  auto spirals = examples::BuildSpiralsTraining(g, 100, /*learning_rate=*/1.0);
  REQUIRE_THAT(spirals.status(), IsOk());
  const Tensor loss = spirals->loss, accuracy = spirals->accuracy;
  const Feeds& feeds = spirals->feeds;
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
