#include "graph/optimizers.h"

#include <cmath>

#include "catch2/catch.hpp"
#include "graph/interpreter.h"
#include "graph/ops.h"
#include "testing/status_matchers.h"

namespace kiln {
namespace {

// Minimizes loss = sum(w^2)/2 + sum(c*w) (gradient w + c) for three steps, and compares every
// step with the update rule written out here in plain C++ (torch.optim's formulas).
void CheckOptimizer(const Optimizer& opt) {
  Graph g;
  const std::vector<double> w0 = {1.0, -2.0, 0.5};
  const std::vector<double> c = {0.3, 0.1, -0.2};
  Tensor w = ops::Variable(g, "w", DType::kF64, {3},
                           ops::Initializer::Value(Literal(DType::kF64, {3}, w0)));
  Tensor cc = ops::Const(g, Literal(DType::kF64, {3}, c));
  Tensor loss = ops::ReduceSum(ops::Square(w)) * 0.5 + ops::ReduceSum(cc * w);
  auto step = TrainStep(loss, {w}, opt);
  REQUIRE_THAT(step.status(), IsOk());
  auto interpreter = Interpreter::Create(g);
  REQUIRE_THAT(interpreter.status(), IsOk());

  const double lr = 0.1;
  std::vector<double> p = w0, m(3, 0), v(3, 0);
  for (int t = 1; t <= 3; ++t) {
    auto out = interpreter->RunTrainingStep({{"learning_rate", Literal::Scalar(DType::kF64, lr)}},
                                            {step->loss});
    REQUIRE_THAT(out.status(), IsOk());
    for (int i = 0; i < 3; ++i) {
      const double grad = p[i] + c[i];
      switch (opt.kind) {
        case Optimizer::Kind::kSgd: p[i] -= lr * grad; break;
        case Optimizer::Kind::kMomentum:
          m[i] = opt.momentum * m[i] + grad;
          p[i] -= lr * (opt.nesterov ? grad + opt.momentum * m[i] : m[i]);
          break;
        case Optimizer::Kind::kAdam:
        case Optimizer::Kind::kAdamW: {
          if (opt.kind == Optimizer::Kind::kAdamW) p[i] -= lr * opt.weight_decay * p[i];
          m[i] = opt.beta1 * m[i] + (1 - opt.beta1) * grad;
          v[i] = opt.beta2 * v[i] + (1 - opt.beta2) * grad * grad;
          const double mh = m[i] / (1 - std::pow(opt.beta1, t));
          const double vh = v[i] / (1 - std::pow(opt.beta2, t));
          p[i] -= lr * mh / (std::sqrt(vh) + opt.epsilon);
          break;
        }
      }
    }
    const Literal& now = interpreter->variables().at("w");
    INFO(opt.name() << " step " << t);
    for (int i = 0; i < 3; ++i) REQUIRE(now.values[i] == Approx(p[i]).epsilon(1e-12));
    REQUIRE(interpreter->variables().at("global_step").values[0] == t);
  }
}

TEST_CASE("Optimizers follow torch.optim's update rules") {
  CheckOptimizer(Optimizer::Sgd());
  CheckOptimizer(Optimizer::Momentum(0.9, false));
  CheckOptimizer(Optimizer::Momentum(0.8, true));
  CheckOptimizer(Optimizer::Adam());
  CheckOptimizer(Optimizer::AdamW(0.1));
}

TEST_CASE("TrainStep records slots, updates and outputs") {
  Graph g;
  Tensor w = ops::Variable(g, "w", DType::kF32, {2});
  Tensor loss = ops::ReduceSum(ops::Square(w));
  auto step = TrainStep(loss, {w}, Optimizer::Adam());
  REQUIRE_THAT(step.status(), IsOk());
  const TrainingInfo& info = g.training();
  REQUIRE(info.optimizer == "adam");
  REQUIRE(info.slots.size() == 2);
  REQUIRE(g.node(info.slots[0].slot_variable).name == "w/m");
  REQUIRE(info.updates.size() == 4);  // global_step, m, v, w
  REQUIRE(g.outputs().at(0).first == "loss");
  REQUIRE(g.FindNode("learning_rate") != nullptr);
  REQUIRE_THAT(TrainStep(loss, {w}, Optimizer::Sgd()).status(),
               StatusIs(absl::StatusCode::kFailedPrecondition, "already has a training step"));
}

TEST_CASE("TrainStep rejects non-variables") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {2});
  REQUIRE_THAT(TrainStep(ops::ReduceSum(x), {x}, Optimizer::Sgd()).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "parameter 'x' is not a Variable"));
  REQUIRE_THAT(TrainStep(ops::ReduceSum(x), {}, Optimizer::Sgd()).status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "no parameters"));
}

}  // namespace
}  // namespace kiln
