// An app embedding the compiled regression graph through its generated header: reads inputs.bin,
// runs 5 training steps, prints each loss and then the final dense/kernel, one number per line.
// Usage: regression_app INPUTS_BIN
#include <cstdio>
#include <fstream>
#include <memory>

#include "regression.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto model = std::make_unique<kiln_generated::Regression>();
  std::ifstream in(argv[1], std::ios::binary);
  in.read(reinterpret_cast<char*>(model->x()), sizeof(float) * model->kXSize);
  in.read(reinterpret_cast<char*>(model->y()), sizeof(float) * model->kYSize);
  in.read(reinterpret_cast<char*>(model->learning_rate()), sizeof(float));
  if (!in) return 1;
  for (int step = 0; step < 5; ++step) {
    if (!model->Run().ok()) return 1;
    std::printf("%.9g\n", model->loss()[0]);
  }
  for (std::size_t i = 0; i < model->kDenseKernelSize; ++i)
    std::printf("%.9g\n", model->dense_kernel()[i]);
  return 0;
}
