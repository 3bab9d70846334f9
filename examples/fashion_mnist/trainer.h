// The Fashion-MNIST trainer behind examples/fashion_mnist/fashion_mnist.cc, over any model whose
// training, evaluation and inference steps kilnc compiled (the generated classes are the template
// arguments). Uses only Kiln's runtime: data, checkpoints, metrics.
#ifndef KILN_EXAMPLES_FASHION_MNIST_TRAINER_H_
#define KILN_EXAMPLES_FASHION_MNIST_TRAINER_H_

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "runtime/checkpoint/checkpoint.h"
#include "runtime/checkpoint/checkpoint_manager.h"
#include "runtime/data/dataset.h"
#include "runtime/data/idx.h"
#include "runtime/kiln_bundle.h"
#include "runtime/metrics/csv_log.h"
#include "runtime/metrics/event_writer.h"
#include "runtime/metrics/progress.h"
#include "runtime/runtime.h"

namespace kiln {
namespace fashion {

struct TrainOptions {
  std::string data_dir = rt::kDefaultFashionMnistDir;
  std::string logdir;       // checkpoints/, log.csv, TensorBoard events
  std::string export_path;  // the inference weights (default: <logdir>/inference.kckpt)
  // The untrained inference graph's bundle (docs/bundle.md), if the trainer has one: the trained
  // model's bundle is written from it to bundle_path (default: <logdir>/model.kiln).
  const void* bundle_template = nullptr;
  size_t bundle_template_size = 0;
  std::string bundle_path;
  int epochs = 10;
  float learning_rate = 1e-3f;
  uint64_t seed = 1;
  int keep_checkpoints = 3;
  int64_t train_examples = 0;  // the first N of each split (0: all)
  int64_t test_examples = 0;
  bool resume = false;
};

// Fills each tensor of `to` from the tensor of the same name in `from`.
template <size_t N, size_t M>
rt::Status CopyByName(const std::array<kiln_tensor, N>& from,
                      const std::array<kiln_tensor, M>& to) {
  for (const kiln_tensor& t : to) {
    const kiln_tensor* source = nullptr;
    for (const kiln_tensor& f : from) {
      if (std::strcmp(f.name, t.name) == 0) source = &f;
    }
    if (source == nullptr || kiln_tensor_bytes(source) != kiln_tensor_bytes(&t) ||
        source->dtype != t.dtype) {
      return rt::InternalError(std::string("variable '") + t.name +
                               "' has no counterpart of its type");
    }
    std::memcpy(t.data, source->data, kiln_tensor_bytes(&t));
  }
  return rt::OkStatus();
}

// Fashion-MNIST split `split` as a dataset of "image" (f32 pixels / 255) and "label" (i32) columns.
inline rt::StatusOr<rt::Dataset> LoadSplit(const std::string& dir, const std::string& split,
                                           int64_t limit) {
  KILN_RT_ASSIGN_OR_RETURN(rt::FashionMnist fm, rt::LoadFashionMnist(dir, split));
  const int64_t n = limit > 0 && limit < fm.labels.dims[0] ? limit : fm.labels.dims[0];
  fm.images.bytes.resize(n * 28 * 28);
  fm.labels.bytes.resize(n);
  KILN_RT_ASSIGN_OR_RETURN(
      rt::Dataset data,
      rt::Dataset::FromColumns(
          {rt::Column::Of<uint8_t>("image", {n, 28, 28}, std::move(fm.images.bytes)),
           rt::Column::Of<uint8_t>("label", {n}, std::move(fm.labels.bytes))}));
  KILN_RT_ASSIGN_OR_RETURN(
      data,
      data.Map("image", rt::Elementwise<uint8_t, float>([](uint8_t p) { return p / 255.0f; })));
  return data.Map("label", rt::Elementwise<uint8_t, int32_t>([](uint8_t l) { return l; }));
}

// Copies a batch into a model's images and labels.
template <typename Model>
void Feed(const rt::Batch& batch, Model& model) {
  std::memcpy(model.images(), batch.Find("image")->template data<float>(),
              sizeof(float) * Model::kImagesSize);
  std::memcpy(model.labels(), batch.Find("label")->template data<int32_t>(),
              sizeof(int32_t) * Model::kLabelsSize);
}

struct Evaluation {
  double loss = 0, accuracy = 0;
};

// Mean loss and accuracy over `test` (whole eval batches), in order.
template <typename Eval>
rt::StatusOr<Evaluation> Evaluate(Eval& eval, const rt::Dataset& test) {
  rt::BatchOptions options;
  options.batch_size = Eval::kLabelsSize;
  options.shuffle = false;
  KILN_RT_ASSIGN_OR_RETURN(rt::BatchIterator batches, test.Batches(options));
  Evaluation e;
  int64_t n = 0;
  for (;;) {
    KILN_RT_ASSIGN_OR_RETURN(std::optional<rt::Batch> batch, batches.Next());
    if (!batch) break;
    Feed(*batch, eval);
    KILN_RT_RETURN_IF_ERROR(eval.Run());
    e.loss += *eval.loss() * batch->size;
    e.accuracy += *eval.accuracy() * batch->size;
    n += batch->size;
  }
  e.loss /= n;
  e.accuracy /= n;
  return e;
}

// Trains for options.epochs (from the latest checkpoint with `resume`), evaluating, logging and
// checkpointing after every epoch, then exports the inference weights. The models run on `context`
// (a CPU one for the CPU target's classes, a CUDA one for the CUDA target's).
template <typename Train, typename Eval, typename Infer>
rt::Status TrainAndExport(const TrainOptions& options, rt::Context& context) {
  using Clock = std::chrono::steady_clock;
  KILN_RT_RETURN_IF_ERROR(context.TakeStatus());  // e.g. no CUDA driver
  KILN_RT_ASSIGN_OR_RETURN(rt::Dataset train_data,
                           LoadSplit(options.data_dir, "train", options.train_examples));
  KILN_RT_ASSIGN_OR_RETURN(rt::Dataset test_data,
                           LoadSplit(options.data_dir, "test", options.test_examples));
  auto train = std::make_unique<Train>(&context);
  auto eval = std::make_unique<Eval>(&context);
  auto infer = std::make_unique<Infer>(&context);
  // Reads of the step counter go through the const accessor: a GPU model then downloads it without
  // marking it for upload again.
  const Train& trained = *train;
  const int64_t batch = Train::kLabelsSize;
  const int64_t steps_per_epoch = train_data.size() / batch;
  if (steps_per_epoch == 0) {
    return rt::InvalidArgumentError("--train_examples " + std::to_string(train_data.size()) +
                                    " is less than one batch (" + std::to_string(batch) + ")");
  }

  rt::CheckpointManager checkpoints(options.logdir + "/checkpoints", "ckpt",
                                    options.keep_checkpoints);
  int first_epoch = 0;
  auto variables = train->variables();
  rt::StatusOr<std::string> latest = checkpoints.LatestPath();
  if (options.resume) {
    if (!latest.ok()) return latest.status();
    int64_t step = 0;
    KILN_RT_RETURN_IF_ERROR(rt::LoadCheckpoint(*latest, variables.data(), variables.size(),
                                               Train::kFingerprint, &step));
    if (step % steps_per_epoch != 0) {
      return rt::FailedPreconditionError("checkpoint '" + *latest + "' is at step " +
                                         std::to_string(step) + ", not at the end of an epoch of " +
                                         std::to_string(steps_per_epoch) +
                                         " steps (were --train_examples or the model different?)");
    }
    first_epoch = static_cast<int>(step / steps_per_epoch);
    std::printf("resumed from %s (step %lld, epoch %d)\n", latest->c_str(),
                static_cast<long long>(step), first_epoch);
  } else if (latest.ok() || latest.status().code() != KILN_NOT_FOUND) {
    return rt::FailedPreconditionError(
        "'" + options.logdir +
        "' already holds checkpoints: pass --resume to continue from them, "
        "or choose another --logdir");
  }

  KILN_RT_ASSIGN_OR_RETURN(rt::EventWriter events,
                           rt::EventWriter::Create(options.logdir));  // makes logdir
  KILN_RT_ASSIGN_OR_RETURN(
      rt::CsvLog csv,
      rt::CsvLog::Append(
          options.logdir + "/log.csv",
          {"epoch", "step", "train_loss", "train_accuracy", "test_loss", "test_accuracy",
           "train_seconds", "examples_per_second"},
          [first_epoch](const std::string& epoch) { return std::stoi(epoch) <= first_epoch; }));
  rt::Progress::Options progress_options;
  progress_options.num_epochs = options.epochs;
  progress_options.steps_per_epoch = steps_per_epoch;
  rt::Progress progress(stdout, progress_options);

  if (first_epoch < options.epochs) {
    rt::BatchOptions batch_options;
    batch_options.batch_size = batch;
    batch_options.seed = options.seed;
    batch_options.first_epoch = first_epoch;
    batch_options.num_epochs = options.epochs - first_epoch;
    KILN_RT_ASSIGN_OR_RETURN(rt::BatchIterator batches, train_data.Batches(batch_options));
    KILN_RT_ASSIGN_OR_RETURN(rt::Prefetcher prefetcher, rt::Prefetcher::Start(std::move(batches)));
    double accuracy_sum = 0;
    Clock::time_point epoch_start;
    for (;;) {
      KILN_RT_ASSIGN_OR_RETURN(std::optional<rt::Batch> b, prefetcher.Next());
      if (!b) break;
      if (b->index == 0) {
        progress.StartEpoch(b->epoch + 1);
        accuracy_sum = 0;
        epoch_start = Clock::now();
      }
      Feed(*b, *train);
      *train->learning_rate() = options.learning_rate;
      KILN_RT_RETURN_IF_ERROR(train->Run());
      const float loss = *train->loss();
      if (!std::isfinite(loss)) {
        return rt::FailedPreconditionError("the loss is " + std::to_string(loss) + " at step " +
                                           std::to_string(*trained.global_step()) +
                                           ": training diverged");
      }
      const int64_t step = *trained.global_step();
      progress.Step(loss, b->size);
      accuracy_sum += *train->accuracy();
      KILN_RT_RETURN_IF_ERROR(events.AddScalar("train/loss", step, loss));
      if (b->index + 1 < steps_per_epoch) continue;

      // End of an epoch: evaluate, log, checkpoint.
      const double train_seconds =
          std::chrono::duration<double>(Clock::now() - epoch_start).count();
      const double train_loss = progress.mean_loss();
      const double examples_per_second = progress.examples_per_second();
      variables = train->variables();  // current (a GPU model's host copies are refreshed)
      KILN_RT_RETURN_IF_ERROR(CopyByName(variables, eval->variables()));
      KILN_RT_ASSIGN_OR_RETURN(Evaluation test, Evaluate(*eval, test_data));
      progress.EndEpoch({{"test_accuracy", test.accuracy}});
      KILN_RT_RETURN_IF_ERROR(
          checkpoints.Save(step, variables.data(), variables.size(), Train::kFingerprint));
      KILN_RT_RETURN_IF_ERROR(
          csv.AddRow({b->epoch + 1, step, train_loss, accuracy_sum / steps_per_epoch, test.loss,
                      test.accuracy, train_seconds, examples_per_second}));
      KILN_RT_RETURN_IF_ERROR(
          events.AddScalar("test/accuracy", step, static_cast<float>(test.accuracy)));
      KILN_RT_RETURN_IF_ERROR(events.AddScalar("test/loss", step, static_cast<float>(test.loss)));
      KILN_RT_RETURN_IF_ERROR(events.Flush());
    }
  } else {
    std::printf("already trained for %d epochs\n", first_epoch);
  }

  KILN_RT_RETURN_IF_ERROR(CopyByName(train->variables(), infer->variables()));
  auto weights = infer->variables();
  const std::string export_path =
      options.export_path.empty() ? options.logdir + "/inference.kckpt" : options.export_path;
  KILN_RT_RETURN_IF_ERROR(rt::SaveCheckpoint(export_path, weights.data(), weights.size(),
                                             *trained.global_step(), Infer::kFingerprint));
  std::printf("exported the inference weights to %s\n", export_path.c_str());
  if (options.bundle_template != nullptr) {
    kiln_bundle_options bundle_options = kiln_bundle_default_options();
    bundle_options.load_code = 0;  // only its weights change
    kiln_bundle* bundle = nullptr;
    char message[512] = "";
    const std::string bundle_path =
        options.bundle_path.empty() ? options.logdir + "/model.kiln" : options.bundle_path;
    kiln_status_code code =
        kiln_bundle_open_memory(options.bundle_template, options.bundle_template_size,
                                &bundle_options, &bundle, message, sizeof message);
    if (code == KILN_OK) {
      code = kiln_bundle_write_weights(bundle, weights.data(), weights.size(), bundle_path.c_str(),
                                       message, sizeof message);
      kiln_bundle_close(bundle);
    }
    if (code != KILN_OK) return rt::Status(code, std::string("the model's bundle: ") + message);
    std::printf("wrote the trained model's bundle to %s\n", bundle_path.c_str());
  }
  return rt::OkStatus();
}

}  // namespace fashion
}  // namespace kiln

#endif  // KILN_EXAMPLES_FASHION_MNIST_TRAINER_H_
