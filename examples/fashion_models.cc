#include "examples/fashion_models.h"

namespace kiln {
namespace examples {

using layers::Activation;

Tensor FashionMlp(layers::Model& model, Tensor images) {
  Tensor h = model.Dense(images, 512, Activation::kRelu);
  h = model.Dense(h, 512, Activation::kRelu);
  return model.Dense(h, 10);
}

Tensor FashionCnn(layers::Model& model, Tensor images) {
  ops::Conv2DOptions pad1;
  pad1.padding = "EXPLICIT";
  pad1.explicit_padding = {1, 1, 1, 1};
  Tensor h = model.Conv2D(images, 32, 3, 3, pad1, Activation::kRelu);
  h = model.MaxPool2D(h);
  h = model.Conv2D(h, 64, 3, 3, pad1, Activation::kRelu);
  h = model.MaxPool2D(h);
  h = model.Flatten(h);
  h = model.Dense(h, 128, Activation::kRelu);
  return model.Dense(h, 10);
}

}  // namespace examples
}  // namespace kiln
