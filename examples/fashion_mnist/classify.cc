// A tiny embedded app: loads the inference weights the trainer exported and classifies one image of
// the Fashion-MNIST test set with the compiled inference graph. Links Kiln's runtime and the compiled
// object only (no MLIR, LLVM, protobuf or Abseil).
//
//   classify --weights runs/fashion_mlp/inference.kckpt [--model mlp|cnn] [--index 0] [--data DIR]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "examples/fashion_mnist/cnn_infer.h"
#include "examples/fashion_mnist/flags.h"
#include "examples/fashion_mnist/mlp_infer.h"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/data/idx.h"

namespace {

constexpr const char* kClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

template <typename Infer>
kiln::rt::Status Classify(const std::string& weights_path, const std::string& data_dir, int64_t index) {
  auto model = std::make_unique<Infer>();
  auto weights = model->variables();
  int64_t step = 0;
  KILN_RT_RETURN_IF_ERROR(
      kiln::rt::LoadCheckpoint(weights_path, weights.data(), weights.size(), Infer::kFingerprint, &step));
  KILN_RT_ASSIGN_OR_RETURN(kiln::rt::FashionMnist test, kiln::rt::LoadFashionMnist(data_dir, "test"));
  const int64_t n = test.labels.dims[0];
  if (index >= n) {
    return kiln::rt::OutOfRangeError("--index " + std::to_string(index) + " is beyond the " + std::to_string(n) +
                                     " test images");
  }
  const uint8_t* pixels = test.images.data<uint8_t>() + index * 784;
  for (int p = 0; p < 784; ++p) model->images()[p] = pixels[p] / 255.0f;
  KILN_RT_RETURN_IF_ERROR(model->Run());
  const float* probabilities = model->probabilities();
  const int best = static_cast<int>(std::max_element(probabilities, probabilities + 10) - probabilities);
  const int truth = test.labels.data<uint8_t>()[index];
  std::printf("test image %lld: %s (%.1f%%); labelled %s; weights from step %lld\n",
              static_cast<long long>(index), kClasses[best], 100.0 * probabilities[best], kClasses[truth],
              static_cast<long long>(step));
  return kiln::rt::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = kiln::fashion::Flags::Parse(argc, argv, {{"weights", true}, {"model", true}, {"index", true},
                                                        {"data", true}});
  kiln::rt::StatusOr<int64_t> index = flags.ok() ? flags->Int("index", 0, 0) : flags.status();
  const std::string model = flags.ok() ? flags->String("model", "mlp") : "";
  if (!flags.ok() || !index.ok() || !flags->Has("weights") || (model != "mlp" && model != "cnn")) {
    std::fprintf(stderr, "classify: %s\nusage: classify --weights PATH [--model mlp|cnn] [--index N] [--data DIR]\n",
                 !flags.ok() ? flags.status().ToString().c_str()
                 : !index.ok() ? index.status().ToString().c_str()
                 : !flags->Has("weights") ? "--weights is required"
                                          : "--model must be mlp or cnn");
    return 2;
  }
  const std::string data = flags->String("data", kiln::rt::kDefaultFashionMnistDir);
  kiln::rt::Status s = model == "mlp"
                           ? Classify<kiln_generated::MlpInfer>(flags->String("weights", ""), data, *index)
                           : Classify<kiln_generated::CnnInfer>(flags->String("weights", ""), data, *index);
  if (!s.ok()) {
    std::fprintf(stderr, "classify: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
