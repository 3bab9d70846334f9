// Trains a Fashion-MNIST classifier with training and evaluation steps compiled ahead of time, then
// exports the weights for the classify app:
//
//   fashion_mnist [--model mlp|cnn] [--epochs 10] [--logdir DIR] [--resume] [--seed 1]
//                 [--learning_rate LR] [--keep_checkpoints 3] [--export PATH] [--data DIR]
//                 [--train_examples N] [--test_examples N] [--threads N]
//
// The MLP (784-512-512-10) trains with Adam (lr 1e-3, batch 128), the CNN with SGD (lr 0.1, batch
// 64). After every epoch: test accuracy, a checkpoint in DIR/checkpoints, a row in DIR/log.csv and
// TensorBoard scalars in DIR (`tensorboard --logdir DIR`). --resume continues from the latest
// checkpoint; a run resumed there matches an uninterrupted one bit for bit.
#include <cstdio>
#include <string>

#include "examples/fashion_mnist/cnn_eval.h"
#include "examples/fashion_mnist/cnn_infer.h"
#include "examples/fashion_mnist/cnn_train.h"
#include "examples/fashion_mnist/flags.h"
#include "examples/fashion_mnist/mlp_eval.h"
#include "examples/fashion_mnist/mlp_infer.h"
#include "examples/fashion_mnist/mlp_train.h"
#include "examples/fashion_mnist/trainer.h"

namespace {

constexpr char kUsage[] =
    "usage: fashion_mnist [--model mlp|cnn] [--epochs N] [--logdir DIR] [--resume] [--seed N]\n"
    "                     [--learning_rate LR] [--keep_checkpoints N] [--export PATH] [--data DIR]\n"
    "                     [--train_examples N] [--test_examples N] [--threads N]\n";

kiln::rt::Status Main(int argc, char** argv, bool* usage_error) {
  using kiln::fashion::Flags;
  *usage_error = true;
  KILN_RT_ASSIGN_OR_RETURN(Flags flags, Flags::Parse(argc, argv, {{"model", true}, {"epochs", true},
                                                                  {"logdir", true}, {"resume", false},
                                                                  {"seed", true}, {"learning_rate", true},
                                                                  {"keep_checkpoints", true}, {"export", true},
                                                                  {"data", true}, {"train_examples", true},
                                                                  {"test_examples", true}, {"threads", true}}));
  const std::string model = flags.String("model", "mlp");
  if (model != "mlp" && model != "cnn") return kiln::rt::InvalidArgumentError("--model must be mlp or cnn, got '" + model + "'");
  kiln::fashion::TrainOptions options;
  KILN_RT_ASSIGN_OR_RETURN(int64_t epochs, flags.Int("epochs", 10, 1));
  KILN_RT_ASSIGN_OR_RETURN(int64_t seed, flags.Int("seed", 1, 0));
  KILN_RT_ASSIGN_OR_RETURN(int64_t keep, flags.Int("keep_checkpoints", 3, 1));
  KILN_RT_ASSIGN_OR_RETURN(int64_t threads, flags.Int("threads", 0, 0));
  options.threads = static_cast<int>(threads);
  KILN_RT_ASSIGN_OR_RETURN(options.train_examples, flags.Int("train_examples", 0, 0));
  KILN_RT_ASSIGN_OR_RETURN(options.test_examples, flags.Int("test_examples", 0, 0));
  KILN_RT_ASSIGN_OR_RETURN(double lr, flags.Double("learning_rate", model == "mlp" ? 1e-3 : 0.1));
  options.epochs = static_cast<int>(epochs);
  options.seed = static_cast<uint64_t>(seed);
  options.keep_checkpoints = static_cast<int>(keep);
  options.learning_rate = static_cast<float>(lr);
  options.logdir = flags.String("logdir", "runs/fashion_" + model);
  options.export_path = flags.String("export", "");
  options.data_dir = flags.String("data", kiln::rt::kDefaultFashionMnistDir);
  options.resume = flags.Has("resume");
  *usage_error = false;
  std::printf("Fashion-MNIST %s: %d epochs, logdir %s\n", model == "mlp" ? "MLP 784-512-512-10, Adam" : "CNN, SGD",
              options.epochs, options.logdir.c_str());
  using namespace kiln_generated;
  if (model == "mlp") return kiln::fashion::TrainAndExport<MlpTrain, MlpEval, MlpInfer>(options);
  return kiln::fashion::TrainAndExport<CnnTrain, CnnEval, CnnInfer>(options);
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
