// The two Fashion-MNIST models Kiln's examples, tests and benchmarks share, built with the layers
// API.
#ifndef KILN_EXAMPLES_FASHION_MODELS_H_
#define KILN_EXAMPLES_FASHION_MODELS_H_

#include "graph/graph.h"
#include "graph/layers.h"

namespace kiln {
namespace examples {

// MLP 784-512-512-10 with ReLU: images [n, 784] → logits [n, 10].
Tensor FashionMlp(layers::Model& model, Tensor images);

// CNN: conv3x3·32 (pad 1), ReLU, maxpool 2, conv3x3·64 (pad 1), ReLU, maxpool 2, dense 128, ReLU,
// dense 10: images [n, 28, 28, 1] (NHWC) → logits [n, 10].
Tensor FashionCnn(layers::Model& model, Tensor images);

}  // namespace examples
}  // namespace kiln

#endif  // KILN_EXAMPLES_FASHION_MODELS_H_
