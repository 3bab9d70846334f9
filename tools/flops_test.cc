#include "tools/flops.h"

#include <limits>

#include "catch2/catch.hpp"
#include "graph/op_registry.h"
#include "graph/ops.h"

namespace kiln {

KILN_REGISTER_OP(OpDef("FlopsTestUnmodelled")
                     .Doc("an op the estimator does not know")
                     .Inputs({"x"})
                     .Shape([](const InferContext& c) -> absl::StatusOr<std::vector<TensorType>> {
                       return std::vector<TensorType>{c.inputs[0]};
                     })
                     .NotDifferentiable("a test op"));

namespace {

TensorType F32(Shape shape) { return {DType::kF32, std::move(shape)}; }

TEST_CASE("MatMul and BatchMatMul cost 2·m·n·k per batch element") {
  // [8,4] x [4,3] -> [8,3]: 2·8·3·4.
  REQUIRE(EstimateFlops("MatMul", {F32({8, 4}), F32({4, 3})}, {F32({8, 3})}, {}) == 192);
  // transpose_a: a is [k,m] = [4,8].
  REQUIRE(EstimateFlops("MatMul", {F32({4, 8}), F32({4, 3})}, {F32({8, 3})},
                        {{"transpose_a", true}}) == 192);
  // transpose_b does not change k.
  REQUIRE(EstimateFlops("MatMul", {F32({8, 4}), F32({3, 4})}, {F32({8, 3})},
                        {{"transpose_a", false}, {"transpose_b", true}}) == 192);
  // 5 batches of [2,7] x [7,6]: 5·2·2·6·7.
  REQUIRE(EstimateFlops("BatchMatMul", {F32({5, 2, 7}), F32({5, 7, 6})}, {F32({5, 2, 6})}, {}) ==
          840);
}

TEST_CASE("Conv2D and its backprops cost 2·out·kh·kw·cin of the forward convolution") {
  const TensorType input = F32({1, 5, 5, 3}), filter = F32({3, 3, 3, 8}),
                   output = F32({1, 3, 3, 8});
  const int64_t forward = 2 * (1 * 3 * 3 * 8) * (3 * 3 * 3);
  REQUIRE(EstimateFlops("Conv2D", {input, filter}, {output}, {}) == forward);
  REQUIRE(EstimateFlops("Conv2DBackpropInput", {output, filter}, {input}, {}) == forward);
  REQUIRE(EstimateFlops("Conv2DBackpropFilter", {input, output}, {filter}, {}) == forward);
}

TEST_CASE("Elementwise ops cost 1 per output element, reductions 1 per input element") {
  REQUIRE(EstimateFlops("Add", {F32({4, 1}), F32({1, 5})}, {F32({4, 5})}, {}) == 20);
  REQUIRE(EstimateFlops("Relu", {F32({2, 3})}, {F32({2, 3})}, {}) == 6);
  REQUIRE(EstimateFlops("Greater", {F32({7}), F32({})}, {{DType::kBool, {7}}}, {}) == 7);
  REQUIRE(EstimateFlops("ReduceSum", {F32({4, 5})}, {F32({})}, {}) == 20);
  REQUIRE(EstimateFlops("ArgMax", {F32({4, 5})}, {{DType::kI64, {4}}}, {}) == 20);
  REQUIRE(EstimateFlops("Reshape", {F32({4, 5})}, {F32({20})}, {}) == 0);
  REQUIRE(EstimateFlops("Placeholder", {}, {F32({1000})}, {}) == 0);
  REQUIRE_FALSE(EstimateFlops("SomeFutureOp", {F32({3})}, {F32({3})}, {}).has_value());
  // Malformed inputs are "not modelled", never a crash.
  REQUIRE_FALSE(EstimateFlops("MatMul", {F32({3})}, {F32({3})}, {}).has_value());
  REQUIRE_FALSE(EstimateFlops("Conv2D", {F32({3}), F32({3})}, {F32({3})}, {}).has_value());
}

TEST_CASE("Counts saturate instead of overflowing") {
  const int64_t big = int64_t{1} << 40;
  REQUIRE(EstimateFlops("MatMul", {F32({big, big}), F32({big, big})}, {F32({big, big})}, {}) ==
          std::numeric_limits<int64_t>::max());
}

TEST_CASE("A graph's total sums its nodes and lists the ops it does not model") {
  Graph g;
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {4, 3});
  Tensor w = ops::Variable(g, "w", DType::kF32, {3});
  Tensor y = ops::ReduceSum(ops::Relu(x * w), {1});  // Mul 12 + Relu 12 + ReduceSum 12
  REQUIRE(g.ok());
  REQUIRE(NodeFlops(g, g.node(y.node())) == 12);
  GraphFlops flops = EstimateGraphFlops(g);
  REQUIRE(flops.total == 36);
  REQUIRE(flops.not_modelled.empty());

  g.AddNode("FlopsTestUnmodelled", {y}, {}, SourceLoc::Current());
  g.AddNode("FlopsTestUnmodelled", {y}, {}, SourceLoc::Current());
  REQUIRE(g.ok());
  flops = EstimateGraphFlops(g);
  REQUIRE(flops.total == 36);
  REQUIRE(flops.not_modelled == std::map<std::string, int>{{"FlopsTestUnmodelled", 2}});
}

}  // namespace
}  // namespace kiln
