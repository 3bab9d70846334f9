// An app embedding the compiled regression graph through its generated header (kilnc --name
// model): reads inputs.bin, runs 5 training steps, prints each loss, saves a checkpoint, loads it
// into a fresh model and prints that model's dense/kernel, one number per line.
// Usage: regression_app INPUTS_BIN CHECKPOINT
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "model.h"
#include "runtime/checkpoint/checkpoint.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  auto model = std::make_unique<kiln_generated::Model>();
  std::ifstream in(argv[1], std::ios::binary);
  in.read(reinterpret_cast<char*>(model->x()), sizeof(float) * model->kXSize);
  in.read(reinterpret_cast<char*>(model->y()), sizeof(float) * model->kYSize);
  in.read(reinterpret_cast<char*>(model->learning_rate()), sizeof(float));
  if (!in) return 1;
  for (int step = 0; step < 5; ++step) {
    if (!model->Run().ok()) return 1;
    std::printf("%.9g\n", model->loss()[0]);
  }
  auto saved = model->variables();
  kiln::rt::Status s =
      kiln::rt::SaveCheckpoint(argv[2], saved.data(), saved.size(), 5, model->kFingerprint);
  auto reloaded = std::make_unique<kiln_generated::Model>();
  auto variables = reloaded->variables();
  int64_t step = 0;
  if (s.ok()) {
    s = kiln::rt::LoadCheckpoint(argv[2], variables.data(), variables.size(),
                                 reloaded->kFingerprint, &step);
  }
  if (!s.ok() || step != 5) {
    std::fprintf(stderr, "checkpoint: %s (step %lld)\n", s.ToString().c_str(),
                 static_cast<long long>(step));
    return 1;
  }
  for (std::size_t i = 0; i < reloaded->kDenseKernelSize; ++i)
    std::printf("%.9g\n", reloaded->dense_kernel()[i]);
  return 0;
}
