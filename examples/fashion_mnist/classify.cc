// A tiny embedded app: loads the inference weights the trainer exported and classifies one image of
// the Fashion-MNIST test set with the compiled inference graph. Links Kiln's runtime and the
// compiled object only (no MLIR, LLVM, protobuf or Abseil).
//
//   classify --weights runs/fashion_mlp/inference.kckpt [--model mlp|cnn] [--index 0] [--data DIR]
//            [--device cpu|cuda]
//   classify --bundle runs/fashion_mlp/model.kiln [--index 0] [--data DIR]   (the CPU build)
//
// The build //examples/fashion_mnist:classify_cuda (KILN_FASHION_CUDA) runs on an NVIDIA GPU.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "examples/fashion_mnist/flags.h"
#include "runtime/bundle.h"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/data/idx.h"
#ifdef KILN_FASHION_CUDA
#include "examples/fashion_mnist/cnn_infer_cuda.h"
#include "examples/fashion_mnist/mlp_infer_cuda.h"
#include "runtime/cuda.h"
using MlpInfer = kiln_generated::MlpInferCuda;
using CnnInfer = kiln_generated::CnnInferCuda;
constexpr char kDevice[] = "cuda";
kiln_context* MakeContext() { return kiln_cuda_context_create(0); }
#else
#include "examples/fashion_mnist/cnn_infer.h"
#include "examples/fashion_mnist/mlp_infer.h"
#include "runtime/dnnl_kernels.h"
using MlpInfer = kiln_generated::MlpInfer;
using CnnInfer = kiln_generated::CnnInfer;
constexpr char kDevice[] = "cpu";
kiln_context* MakeContext() { return kiln_context_create(1); }
#endif

namespace {

constexpr const char* kClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

template <typename Infer>
kiln::rt::Status Classify(const std::string& weights_path, const std::string& data_dir,
                          int64_t index) {
  kiln::rt::Context context(MakeContext());
  KILN_RT_RETURN_IF_ERROR(context.TakeStatus());  // e.g. no CUDA driver
  auto model = std::make_unique<Infer>(&context);
  auto weights = model->variables();
  int64_t step = 0;
  KILN_RT_RETURN_IF_ERROR(kiln::rt::LoadCheckpoint(weights_path, weights.data(), weights.size(),
                                                   Infer::kFingerprint, &step));
  KILN_RT_ASSIGN_OR_RETURN(kiln::rt::FashionMnist test,
                           kiln::rt::LoadFashionMnist(data_dir, "test"));
  const int64_t n = test.labels.dims[0];
  if (index >= n) {
    return kiln::rt::OutOfRangeError("--index " + std::to_string(index) + " is beyond the " +
                                     std::to_string(n) + " test images");
  }
  const uint8_t* pixels = test.images.data<uint8_t>() + index * 784;
  for (int p = 0; p < 784; ++p) model->images()[p] = pixels[p] / 255.0f;
  KILN_RT_RETURN_IF_ERROR(model->Run());
  const float* probabilities = model->probabilities();
  const int best =
      static_cast<int>(std::max_element(probabilities, probabilities + 10) - probabilities);
  const int truth = test.labels.data<uint8_t>()[index];
  std::printf("test image %lld: %s (%.1f%%); labelled %s; weights from step %lld\n",
              static_cast<long long>(index), kClasses[best], 100.0 * probabilities[best],
              kClasses[truth], static_cast<long long>(step));
  return kiln::rt::OkStatus();
}

// The same with the model from a bundle (docs/bundle.md: the trainer's LOGDIR/model.kiln, or
// kilnc --emit bundle --weights), loaded at run time: no compiled class, and either model.
kiln::rt::Status ClassifyWithBundle(const std::string& bundle_path, const std::string& data_dir,
                                    int64_t index) {
#ifdef KILN_FASHION_CUDA
  return kiln::rt::InvalidArgumentError("--bundle: bundles run on the CPU build (classify)");
#else
  KILN_RT_ASSIGN_OR_RETURN(std::unique_ptr<kiln::rt::Bundle> bundle,
                           kiln::rt::Bundle::Open(bundle_path, kiln_dnnl_symbols));
  const int sig = bundle->FindBatch("serving_default", 1);
  if (sig < 0) return kiln::rt::NotFoundError(bundle_path + ": no serving_default signature");
  KILN_RT_ASSIGN_OR_RETURN(kiln::rt::FashionMnist test,
                           kiln::rt::LoadFashionMnist(data_dir, "test"));
  const int64_t n = test.labels.dims[0];
  if (index >= n) {
    return kiln::rt::OutOfRangeError("--index " + std::to_string(index) + " is beyond the " +
                                     std::to_string(n) + " test images");
  }
  const int64_t batch = bundle->batch_size(sig);
  std::vector<float> pixels(batch * 784, 0.0f), probabilities(batch * 10, 0.0f);
  const uint8_t* image = test.images.data<uint8_t>() + index * 784;
  for (int p = 0; p < 784; ++p) pixels[p] = image[p] / 255.0f;
  kiln::rt::Context context(kiln_dnnl_context_create(1));
  bundle->Prepare(sig, context);
  KILN_RT_RETURN_IF_ERROR(bundle->Run(sig, {pixels.data()}, {probabilities.data()}, context));
  const int best = static_cast<int>(
      std::max_element(probabilities.begin(), probabilities.begin() + 10) - probabilities.begin());
  const int truth = test.labels.data<uint8_t>()[index];
  std::printf("test image %lld: %s (%.1f%%); labelled %s; model from %s\n",
              static_cast<long long>(index), kClasses[best], 100.0 * probabilities[best],
              kClasses[truth], bundle_path.c_str());
  return kiln::rt::OkStatus();
#endif
}

}  // namespace

int main(int argc, char** argv) {
  auto flags = kiln::fashion::Flags::Parse(argc, argv,
                                           {{"weights", true},
                                            {"bundle", true},
                                            {"model", true},
                                            {"index", true},
                                            {"data", true},
                                            {"device", true}});
  kiln::rt::StatusOr<int64_t> index = flags.ok() ? flags->Int("index", 0, 0) : flags.status();
  const std::string model = flags.ok() ? flags->String("model", "mlp") : "";
  const std::string device = flags.ok() ? flags->String("device", kDevice) : kDevice;
  const std::string other_build = std::string("--device ") + device + ": this build runs on " +
                                  kDevice + " (the other is //examples/fashion_mnist:" +
                                  (device == "cuda" ? "classify_cuda" : "classify") + ")";
  const bool one_model = flags.ok() && flags->Has("weights") != flags->Has("bundle");
  if (!flags.ok() || !index.ok() || !one_model || (model != "mlp" && model != "cnn") ||
      device != kDevice) {
    std::fprintf(stderr,
                 "classify: %s\nusage: classify --weights PATH|--bundle PATH [--model mlp|cnn] "
                 "[--index N] [--data DIR] [--device cpu|cuda]\n",
                 !flags.ok()         ? flags.status().ToString().c_str()
                 : !index.ok()       ? index.status().ToString().c_str()
                 : !one_model        ? "one of --weights and --bundle is required"
                 : device != kDevice ? other_build.c_str()
                                     : "--model must be mlp or cnn");
    return 2;
  }
  const std::string data = flags->String("data", kiln::rt::kDefaultFashionMnistDir);
  kiln::rt::Status s =
      flags->Has("bundle") ? ClassifyWithBundle(flags->String("bundle", ""), data, *index)
      : model == "mlp"     ? Classify<MlpInfer>(flags->String("weights", ""), data, *index)
                           : Classify<CnnInfer>(flags->String("weights", ""), data, *index);
  if (!s.ok()) {
    std::fprintf(stderr, "classify: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
