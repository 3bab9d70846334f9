// Composite ops: builder functions made only of primitives, so they need no registry entry of their
// own (their gradients, kernels and lowerings are their primitives').
#include "absl/strings/str_cat.h"
#include "graph/ops.h"

namespace kiln {
namespace ops {

Tensor Dropout(Tensor x, double rate, int64_t seed, Tensor counter, SourceLoc loc) {
  Graph* g = x.graph();
  if (g == nullptr) return Tensor();
  if (!(rate >= 0 && rate < 1)) {
    g->RecordError(absl::InvalidArgumentError(
        absl::StrCat("Dropout (", loc.ToString(), "): rate must be in [0, 1), got ", rate)));
    return g->Output(-1);
  }
  if (rate == 0) return x;
  const double keep = 1 - rate;
  Tensor u = RandomUniform(*g, x.shape(), seed, 0, 1, x.dtype(), counter, loc);
  Tensor mask = Cast(Less(u, Scalar(*g, keep, x.dtype(), loc), loc), x.dtype(), loc);
  return Mul(x, Mul(mask, Scalar(*g, 1 / keep, x.dtype(), loc), loc), loc);
}

Tensor LayerNorm(Tensor x, Tensor gamma, Tensor beta, double epsilon, SourceLoc loc) {
  Graph* g = x.graph();
  if (g == nullptr) return Tensor();
  Tensor mean = ReduceMean(x, {-1}, true, loc);
  Tensor centered = Sub(x, mean, loc);
  Tensor var = ReduceMean(Square(centered, loc), {-1}, true, loc);
  Tensor inv = Rsqrt(Add(var, Scalar(*g, epsilon, x.dtype(), loc), loc), loc);
  return Add(Mul(Mul(centered, inv, loc), gamma, loc), beta, loc);
}

namespace {
std::vector<int64_t> AllButLast(const Tensor& x) {
  std::vector<int64_t> axes;
  for (int i = 0; i + 1 < x.rank(); ++i) axes.push_back(i);
  return axes;
}
}  // namespace

Tensor BatchNormInference(Tensor x, Tensor mean, Tensor variance, Tensor gamma, Tensor beta,
                          double epsilon, SourceLoc loc) {
  Graph* g = x.graph();
  if (g == nullptr) return Tensor();
  Tensor inv = Rsqrt(Add(variance, Scalar(*g, epsilon, x.dtype(), loc), loc), loc);
  return Add(Mul(Mul(Sub(x, mean, loc), inv, loc), gamma, loc), beta, loc);
}

std::vector<Tensor> BatchNormTraining(Tensor x, Tensor gamma, Tensor beta, double epsilon,
                                      SourceLoc loc) {
  std::vector<int64_t> axes = AllButLast(x);
  Tensor mean = ReduceMean(x, axes, false, loc);
  Tensor var = ReduceMean(Square(Sub(x, mean, loc), loc), axes, false, loc);
  return {BatchNormInference(x, mean, var, gamma, beta, epsilon, loc), mean, var};
}

}  // namespace ops
}  // namespace kiln
