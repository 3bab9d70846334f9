// Symbolic reverse-mode differentiation: appends gradient nodes to the graph (no tape).
#ifndef KILN_GRAPH_AUTODIFF_H_
#define KILN_GRAPH_AUTODIFF_H_

#include <vector>

#include "absl/status/statusor.h"
#include "graph/graph.h"

namespace kiln {

// Appends to `loss`'s graph the nodes computing d(loss)/d(x) for each x in `wrt`, and returns them
// (one per x, of x's shape and dtype). `loss` must be a float scalar unless `loss_grad` (the seed,
// of loss's type) is given. Gradients from several uses of a tensor are summed; broadcasts are
// summed back to the input's shape; StopGradient and integer/bool tensors stop the flow. An x the
// loss does not depend on gets zeros. A non-differentiable op on a path from an x to the loss is an
// error naming it. Because gradient rules are built from ops, the returned tensors can be
// differentiated again.
absl::StatusOr<std::vector<Tensor>> AddGradients(Tensor loss, const std::vector<Tensor>& wrt,
                                                 Tensor loss_grad = Tensor());

// Sums `grad` over broadcast dimensions so it has `shape` (the inverse of broadcasting to grad's
// shape). Returns `grad` itself when the shapes already match.
Tensor SumToShape(Tensor grad, const Shape& shape);

}  // namespace kiln

#endif  // KILN_GRAPH_AUTODIFF_H_
