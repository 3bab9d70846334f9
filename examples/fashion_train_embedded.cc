// An app that embeds Kiln's compiled Fashion-MNIST MLP training step (the whole step — forward,
// backward, Adam update — is one call of generated code) and trains it on the real data set.
//
// With Bazel: bazel run //examples:fashion_train_embedded -- [STEPS]
// Without Bazel (docs/aot.md), from the repository root:
//   bazel-bin/examples/build_fashion_graphs build && mkdir -p build/examples
//   kilnc compile build/fashion_mlp_train.pb --out build/examples
//   g++ -std=c++17 -O2 -Ibuild examples/fashion_train_embedded.cc build/examples/fashion_mlp_train.o \
//       -lz -lm -o fashion_train
//
// Reads /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "examples/fashion_mlp_train.h"

namespace {

constexpr char kData[] = "/usr/share/datasets/fashion-mnist/";

// The payload of a gzip'd IDX file after its header (magic, then one u32 per dimension).
bool ReadIdx(const std::string& path, int dims, std::vector<unsigned char>& out) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  unsigned char header[16];
  const int header_bytes = 4 + 4 * dims;
  bool ok = gzread(f, header, header_bytes) == header_bytes;
  unsigned char buffer[1 << 16];
  for (int n; ok && (n = gzread(f, buffer, sizeof(buffer))) > 0;) out.insert(out.end(), buffer, buffer + n);
  gzclose(f);
  return ok && !out.empty();
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::vector<unsigned char> images, labels;
  if (!ReadIdx(std::string(kData) + "train-images-idx3-ubyte.gz", 3, images) ||
      !ReadIdx(std::string(kData) + "train-labels-idx1-ubyte.gz", 1, labels)) {
    std::fprintf(stderr, "cannot read Fashion-MNIST from %s (install dataset-fashion-mnist)\n", kData);
    return 1;
  }
  const std::size_t count = labels.size();
  auto model = std::make_unique<kiln_generated::FashionMlpTrain>();
  const std::size_t batch = model->kLabelsSize;
  *model->learning_rate() = 1e-3f;

  std::vector<std::size_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(1);
  std::size_t next = count;
  double loss_sum = 0, accuracy_sum = 0;
  for (int step = 1; step <= steps; ++step) {
    for (std::size_t b = 0; b < batch; ++b) {
      if (next == count) {
        std::shuffle(order.begin(), order.end(), rng);
        next = 0;
      }
      const std::size_t i = order[next++];
      for (std::size_t p = 0; p < 784; ++p) model->images()[b * 784 + p] = images[i * 784 + p] / 255.0f;
      model->labels()[b] = labels[i];
    }
    if (kiln::rt::Status s = model->Run(); !s.ok()) {
      std::fprintf(stderr, "step %d: %s\n", step, s.ToString().c_str());
      return 1;
    }
    loss_sum += model->loss()[0];
    accuracy_sum += model->accuracy()[0];
    if (step % 100 == 0 || step == steps) {
      const int n = step % 100 == 0 ? 100 : step % 100;
      std::printf("step %5d  loss %.4f  train accuracy %.3f\n", step, loss_sum / n, accuracy_sum / n);
      loss_sum = accuracy_sum = 0;
    }
  }
  return 0;
}
