// Three interleaved spirals: a small, fixed, non-linearly-separable classification set (the classic
// from CS231n), used by the interpreter training test and the spirals example.
#ifndef KILN_EXAMPLES_SPIRALS_H_
#define KILN_EXAMPLES_SPIRALS_H_

#include "graph/types.h"

namespace kiln {
namespace examples {

// `points_per_class` points per class: features f32 [3n, 2], labels i32 [3n]. Deterministic.
void MakeSpirals(int points_per_class, Literal& features, Literal& labels);

}  // namespace examples
}  // namespace kiln

#endif  // KILN_EXAMPLES_SPIRALS_H_
