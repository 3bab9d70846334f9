// Kiln's reproducible random numbers: every value is a pure function of (seed, counter, element
// index), the same on every machine and in compiled code, so initializers,
// RandomUniform/RandomNormal and Dropout give bit-identical results everywhere.
#ifndef KILN_GRAPH_RANDOM_H_
#define KILN_GRAPH_RANDOM_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "graph/types.h"

namespace kiln {

// 64 random bits: SplitMix64 finalizers chained over seed, counter and index.
uint64_t RandomBits(uint64_t seed, uint64_t counter, uint64_t index);
// Uniform in [0, 1) with 53 random bits.
double UniformAt(uint64_t seed, uint64_t counter, uint64_t index);
// Standard normal (Box-Muller over two uniforms derived from `index`).
double NormalAt(uint64_t seed, uint64_t counter, uint64_t index);

// The initial value of a Variable node, from its init attributes, in the Variable's dtype. For kind
// "value" it shares the init_value attribute's bytes (when the dtypes agree) instead of copying
// them.
absl::StatusOr<TensorData> InitialValue(const Node& variable);

}  // namespace kiln

#endif  // KILN_GRAPH_RANDOM_H_
