// Three interleaved spirals: a small, fixed, non-linearly-separable classification set (the classic
// from CS231n), used by the interpreter training test and the spirals example.
#ifndef KILN_EXAMPLES_SPIRALS_H_
#define KILN_EXAMPLES_SPIRALS_H_

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/types.h"

namespace kiln {
namespace examples {

// `points_per_class` points per class: features f32 [3n, 2], labels i32 [3n]. Deterministic.
void MakeSpirals(int points_per_class, Literal& features, Literal& labels);

struct SpiralsTraining {
  Tensor loss, accuracy;
  Feeds feeds;  // the spirals as "x" and "labels", and "learning_rate"
};

// Builds into `graph` an MLP 2-64-64-3 (ReLU; layers API, seed 3) with softmax cross-entropy and an
// SGD TrainStep, and the feeds that train it on `points_per_class` points per class.
absl::StatusOr<SpiralsTraining> BuildSpiralsTraining(Graph& graph, int points_per_class,
                                                     double learning_rate);

}  // namespace examples
}  // namespace kiln

#endif  // KILN_EXAMPLES_SPIRALS_H_
