// Test support: checks symbolic gradients against central finite differences in float64.
#ifndef KILN_GRAPH_GRADIENT_CHECK_H_
#define KILN_GRAPH_GRADIENT_CHECK_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/types.h"

namespace kiln {

// A literal of `shape` with values uniform in [lo, hi).
Literal RandomLiteral(DType dtype, const Shape& shape, std::mt19937_64& rng, double lo = -1,
                      double hi = 1);
// A random shape of rank in [min_rank, max_rank] with dims in [1, max_dim].
Shape RandomShape(std::mt19937_64& rng, int min_rank = 0, int max_rank = 3, int64_t max_dim = 4);
// A shape `shape` broadcasts from: some leading dims dropped, some dims set to 1.
Shape RandomBroadcastableShape(const Shape& shape, std::mt19937_64& rng);

struct GradientCheck {
  double max_error =
      0;              // max over elements of |analytic - numeric| / max(1, |analytic|, |numeric|)
  std::string worst;  // where it occurred
};

// Differentiates the scalar sum(y * r) (r a fixed random tensor, so every output element counts)
// with respect to each of `inputs` (Placeholders fed by `feeds`) with AddGradients, and compares
// against central differences with step `eps` over every input element. The graph must be float64.
absl::StatusOr<GradientCheck> CheckGradients(Tensor y, const std::vector<Tensor>& inputs,
                                             const Feeds& feeds, uint64_t seed, double eps = 1e-6);

}  // namespace kiln

#endif  // KILN_GRAPH_GRADIENT_CHECK_H_
