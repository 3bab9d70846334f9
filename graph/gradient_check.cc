#include "graph/gradient_check.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "graph/autodiff.h"
#include "graph/ops.h"
#include "graph/status_macros.h"

namespace kiln {

Literal RandomLiteral(DType dtype, const Shape& shape, std::mt19937_64& rng, double lo, double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  Literal l(dtype, shape);
  for (double& v : l.values) v = dist(rng);
  l.RoundToDType();
  return l;
}

Shape RandomShape(std::mt19937_64& rng, int min_rank, int max_rank, int64_t max_dim) {
  std::uniform_int_distribution<int> rank_dist(min_rank, max_rank);
  std::uniform_int_distribution<int64_t> dim_dist(1, max_dim);
  std::vector<int64_t> dims(rank_dist(rng));
  for (int64_t& d : dims) d = dim_dist(rng);
  return Shape(dims);
}

Shape RandomBroadcastableShape(const Shape& shape, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> drop(0, shape.rank());
  std::vector<int64_t> dims(shape.dims().begin() + drop(rng), shape.dims().end());
  std::bernoulli_distribution one(0.4);
  for (int64_t& d : dims) {
    if (one(rng)) d = 1;
  }
  return Shape(dims);
}

absl::StatusOr<GradientCheck> CheckGradients(Tensor y, const std::vector<Tensor>& inputs,
                                             const Feeds& feeds, uint64_t seed, double eps) {
  if (!y.valid()) return y.graph() ? y.graph()->status() : absl::InvalidArgumentError("invalid y");
  Graph& g = *y.graph();
  std::mt19937_64 rng(seed);
  Tensor r = ops::Const(g, RandomLiteral(y.dtype(), y.shape(), rng));
  Tensor loss = ops::ReduceSum(y * r);
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> grads, AddGradients(loss, inputs));
  KILN_ASSIGN_OR_RETURN(Interpreter interpreter, Interpreter::Create(g));
  KILN_ASSIGN_OR_RETURN(std::vector<Literal> analytic, interpreter.Run(feeds, grads));

  GradientCheck result;
  Feeds perturbed = feeds;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::string& name = g.node(inputs[k].node()).name;
    Literal& x = perturbed.at(name);
    for (int64_t i = 0; i < x.size(); ++i) {
      const double saved = x.values[i];
      x.values[i] = saved + eps;
      KILN_ASSIGN_OR_RETURN(std::vector<Literal> plus, interpreter.Run(perturbed, {loss}));
      x.values[i] = saved - eps;
      KILN_ASSIGN_OR_RETURN(std::vector<Literal> minus, interpreter.Run(perturbed, {loss}));
      x.values[i] = saved;
      const double numeric = (plus[0].values[0] - minus[0].values[0]) / (2 * eps);
      const double a = analytic[k].values[i];
      const double error =
          std::fabs(a - numeric) / std::max({1.0, std::fabs(a), std::fabs(numeric)});
      if (!(error <= result.max_error)) {  // NaN counts as worst
        result.max_error = std::isnan(error) ? INFINITY : error;
        result.worst = absl::StrCat(name, "[", i, "]: analytic ", a, ", numeric ", numeric);
      }
    }
  }
  return result;
}

}  // namespace kiln
