// Trains a Fashion-MNIST classifier with training and evaluation steps compiled ahead of time, then
// exports the weights for the classify app:
//
//   fashion_mnist [--model mlp|cnn] [--epochs 10] [--logdir DIR] [--resume] [--seed 1]
//                 [--learning_rate LR] [--keep_checkpoints 3] [--export PATH] [--data DIR]
//                 [--bundle PATH]
//                 [--train_examples N] [--test_examples N] [--threads N] [--device cpu|cuda]
//
// The MLP (784-512-512-10) trains with Adam (lr 1e-3, batch 128), the CNN with SGD (lr 0.1, batch
// 64). After every epoch: test accuracy, a checkpoint in DIR/checkpoints, a row in DIR/log.csv and
// TensorBoard scalars in DIR (`tensorboard --logdir DIR`). --resume continues from the latest
// checkpoint; a run resumed there matches an uninterrupted one bit for bit. At the end the CPU
// build also writes the trained model as a bundle (LOGDIR/model.kiln, docs/bundle.md), which
// `classify --bundle` runs.
//
// --device cuda trains on the first NVIDIA GPU with the graphs compiled for the CUDA target: that
// is the build //examples/fashion_mnist:fashion_mnist_cuda (KILN_FASHION_CUDA; it needs the CUDA
// toolkit to build, and neither oneDNN nor the toolkit to run).
#include <cstdio>
#include <string>

#include "examples/fashion_mnist/flags.h"
#include "examples/fashion_mnist/trainer.h"
#ifdef KILN_FASHION_CUDA
#include "examples/fashion_mnist/cnn_eval_cuda.h"
#include "examples/fashion_mnist/cnn_infer_cuda.h"
#include "examples/fashion_mnist/cnn_train_cuda.h"
#include "examples/fashion_mnist/mlp_eval_cuda.h"
#include "examples/fashion_mnist/mlp_infer_cuda.h"
#include "examples/fashion_mnist/mlp_train_cuda.h"
#include "runtime/cuda.h"
constexpr char kDevice[] = "cuda";
#else
#include "examples/fashion_mnist/bundle_templates.h"
#include "examples/fashion_mnist/cnn_eval.h"
#include "examples/fashion_mnist/cnn_infer.h"
#include "examples/fashion_mnist/cnn_train.h"
#include "examples/fashion_mnist/mlp_eval.h"
#include "examples/fashion_mnist/mlp_infer.h"
#include "examples/fashion_mnist/mlp_train.h"
#include "runtime/dnnl_kernels.h"
constexpr char kDevice[] = "cpu";
#endif

namespace {

constexpr char kUsage[] =
    "usage: fashion_mnist [--model mlp|cnn] [--epochs N] [--logdir DIR] [--resume] [--seed N]\n"
    "                     [--learning_rate LR] [--keep_checkpoints N] [--export PATH] [--data "
    "DIR]\n"
    "                     [--bundle PATH (CPU: the trained model as one .kiln file; default "
    "LOGDIR/model.kiln)]\n"
    "                     [--train_examples N] [--test_examples N] [--threads N] [--device "
    "cpu|cuda]\n";

kiln::rt::Status Main(int argc, char** argv, bool* usage_error) {
  using kiln::fashion::Flags;
  *usage_error = true;
  KILN_RT_ASSIGN_OR_RETURN(Flags flags, Flags::Parse(argc, argv,
                                                     {{"model", true},
                                                      {"epochs", true},
                                                      {"logdir", true},
                                                      {"resume", false},
                                                      {"seed", true},
                                                      {"learning_rate", true},
                                                      {"keep_checkpoints", true},
                                                      {"export", true},
                                                      {"bundle", true},
                                                      {"data", true},
                                                      {"train_examples", true},
                                                      {"test_examples", true},
                                                      {"threads", true},
                                                      {"device", true}}));
  const std::string model = flags.String("model", "mlp");
  const std::string device = flags.String("device", kDevice);
  if (device != kDevice) {
    return kiln::rt::InvalidArgumentError(
        "--device " + device + ": this build runs on " + kDevice + "; " +
        (device == "cuda"
             ? "build //examples/fashion_mnist:fashion_mnist_cuda (needs the CUDA toolkit)"
         : device == "cpu" ? "build //examples/fashion_mnist:fashion_mnist"
                           : "--device must be cpu or cuda"));
  }
  if (model != "mlp" && model != "cnn")
    return kiln::rt::InvalidArgumentError("--model must be mlp or cnn, got '" + model + "'");
  kiln::fashion::TrainOptions options;
  KILN_RT_ASSIGN_OR_RETURN(int64_t epochs, flags.Int("epochs", 10, 1));
  KILN_RT_ASSIGN_OR_RETURN(int64_t seed, flags.Int("seed", 1, 0));
  KILN_RT_ASSIGN_OR_RETURN(int64_t keep, flags.Int("keep_checkpoints", 3, 1));
  KILN_RT_ASSIGN_OR_RETURN(int64_t threads, flags.Int("threads", 0, 0));
  KILN_RT_ASSIGN_OR_RETURN(options.train_examples, flags.Int("train_examples", 0, 0));
  KILN_RT_ASSIGN_OR_RETURN(options.test_examples, flags.Int("test_examples", 0, 0));
  KILN_RT_ASSIGN_OR_RETURN(double lr, flags.Double("learning_rate", model == "mlp" ? 1e-3 : 0.1));
  options.epochs = static_cast<int>(epochs);
  options.seed = static_cast<uint64_t>(seed);
  options.keep_checkpoints = static_cast<int>(keep);
  options.learning_rate = static_cast<float>(lr);
  options.logdir = flags.String("logdir", "runs/fashion_" + model);
  options.export_path = flags.String("export", "");
  options.bundle_path = flags.String("bundle", "");
  options.data_dir = flags.String("data", kiln::rt::kDefaultFashionMnistDir);
  options.resume = flags.Has("resume");
  *usage_error = false;
  std::printf("Fashion-MNIST %s: %d epochs, logdir %s, %s\n",
              model == "mlp" ? "MLP 784-512-512-10, Adam" : "CNN, SGD", options.epochs,
              options.logdir.c_str(), kDevice);
  using namespace kiln_generated;
#ifdef KILN_FASHION_CUDA
  (void)threads;
  kiln::rt::Context context(kiln_cuda_context_create(0));
  if (model == "mlp")
    return kiln::fashion::TrainAndExport<MlpTrainCuda, MlpEvalCuda, MlpInferCuda>(options, context);
  return kiln::fashion::TrainAndExport<CnnTrainCuda, CnnEvalCuda, CnnInferCuda>(options, context);
#else
  // Parallel loops share OpenMP's threads with oneDNN (see runtime/dnnl_kernels.h); --threads 0:
  // OpenMP's default, OMP_NUM_THREADS or one per core.
  kiln::rt::Context context(kiln_dnnl_context_create(static_cast<int>(threads)));
  const unsigned char* begin = model == "mlp" ? kiln_fashion_mlp_bundle : kiln_fashion_cnn_bundle;
  const unsigned char* end =
      model == "mlp" ? kiln_fashion_mlp_bundle_end : kiln_fashion_cnn_bundle_end;
  options.bundle_template = begin;
  options.bundle_template_size = static_cast<size_t>(end - begin);
  if (model == "mlp")
    return kiln::fashion::TrainAndExport<MlpTrain, MlpEval, MlpInfer>(options, context);
  return kiln::fashion::TrainAndExport<CnnTrain, CnnEval, CnnInfer>(options, context);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  bool usage_error = false;
  kiln::rt::Status s = Main(argc, argv, &usage_error);
  if (s.ok()) return 0;
  std::fflush(stdout);  // keep the error after what was printed
  std::fprintf(stderr, "fashion_mnist: %s\n%s", s.ToString().c_str(), usage_error ? kUsage : "");
  return usage_error ? 2 : 1;
}
