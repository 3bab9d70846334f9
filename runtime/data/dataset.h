// Training data held in memory: a table of examples read in shuffled batches, epoch after epoch,
// with per-batch transforms, optionally prepared ahead on a background thread.
//
//   Dataset       named columns; each is a dense array whose first dimension indexes the examples
//   Map           a transform of one column, applied to each batch (e.g. u8 pixels → f32 in [0, 1])
//   Batches       the batches of epochs [first_epoch, first_epoch + num_epochs), shuffled or not
//   Prefetcher    runs a BatchIterator on a thread, `depth` batches ahead of the training loop
//
// Fashion-MNIST (runtime/data/idx.h), in a function returning Status:
//
//   KILN_RT_ASSIGN_OR_RETURN(FashionMnist fm, LoadFashionMnist(kDefaultFashionMnistDir, "train"));
//   KILN_RT_ASSIGN_OR_RETURN(Dataset train, Dataset::FromColumns({
//       Column::Of<uint8_t>("image", fm.images.dims, std::move(fm.images.bytes)),
//       Column::Of<uint8_t>("label", fm.labels.dims, std::move(fm.labels.bytes))}));
//   KILN_RT_ASSIGN_OR_RETURN(train, train.Map("image", Elementwise<uint8_t, float>(
//       [](uint8_t pixel) { return pixel / 255.0f; })));
//   KILN_RT_ASSIGN_OR_RETURN(train, train.Map("label", Elementwise<uint8_t, int32_t>(
//       [](uint8_t label) { return label; })));
//   BatchOptions options;
//   options.batch_size = 128;
//   options.num_epochs = 10;
//   KILN_RT_ASSIGN_OR_RETURN(BatchIterator batches, train.Batches(options));
//   KILN_RT_ASSIGN_OR_RETURN(Prefetcher prefetcher, Prefetcher::Start(std::move(batches)));
//   for (;;) {
//     KILN_RT_ASSIGN_OR_RETURN(std::optional<Batch> batch, prefetcher.Next());
//     if (!batch) break;
//     const float* images = batch->Find("image")->data<float>();  // [128, 28, 28]
//     ...
//   }
//
// Determinism: the order of an epoch is a function of (seed, epoch, number of examples) alone,
// computed the same way on every platform and standard library (ShuffledOrder), so a run resumed at
// epoch 3 sees exactly the batches an uninterrupted run sees from its epoch 3 on.
//
// Threads: a Dataset is immutable and may be shared; its Map functions may run on a Prefetcher's
// thread, so they must not touch unsynchronized shared state. A BatchIterator or Prefetcher serves
// one consumer thread.
#ifndef KILN_RUNTIME_DATA_DATASET_H_
#define KILN_RUNTIME_DATA_DATASET_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/status.h"

namespace kiln {
namespace rt {

// Element types of columns: u8, as image files store pixels, and the kiln_dtype types compiled
// graphs' inputs usually have (kiln_dtype has no u8, so columns have their own enum).
enum class ElementType { kU8, kI32, kI64, kF32, kF64 };

// Bytes per element (0 for a value outside the enum); "u8", "f32", ... ("?" outside the enum).
size_t ElementSize(ElementType type);
const char* ElementTypeName(ElementType type);

// The ElementType of uint8_t, int32_t, int64_t, float and double.
template <typename T>
constexpr ElementType ElementTypeOf() {
  if constexpr (std::is_same_v<T, uint8_t>)
    return ElementType::kU8;
  else if constexpr (std::is_same_v<T, int32_t>)
    return ElementType::kI32;
  else if constexpr (std::is_same_v<T, int64_t>)
    return ElementType::kI64;
  else if constexpr (std::is_same_v<T, float>)
    return ElementType::kF32;
  else if constexpr (std::is_same_v<T, double>)
    return ElementType::kF64;
  else
    static_assert(sizeof(T) == 0, "no ElementType for T");
}

// A named dense array, row-major, whose first dimension indexes examples.
struct Column {
  std::string name;
  ElementType type = ElementType::kF32;
  std::vector<int64_t> shape;  // [examples, extents of one example...]
  std::vector<uint8_t> bytes;  // the elements

  // A column of `values` (shape's product of them; Dataset::FromColumns checks). Moves a uint8_t
  // vector in without copying.
  template <typename T>
  static Column Of(std::string name, std::vector<int64_t> shape, std::vector<T> values);

  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t num_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  // The elements as T, or nullptr when T is not the column's type.
  template <typename T>
  const T* data() const {
    return ElementTypeOf<T>() == type ? reinterpret_cast<const T*>(bytes.data()) : nullptr;
  }
};

// A transform of one column of a batch: gets the column (shape [batch size, ...]) and returns its
// replacement, which may change the type and per-example shape but not the number of rows.
using ColumnFn = std::function<StatusOr<Column>(Column)>;

// A ColumnFn applying `f` (In → Out) to every element; InvalidArgument when the column's type is
// not In.
template <typename In, typename Out, typename F>
ColumnFn Elementwise(F f);

// SplitMix64 (Steele, Lea and Flood, OOPSLA 2014): a generator specified in a few lines, so it
// gives the same numbers everywhere, unlike std::shuffle and the std:: distributions whose
// algorithms each standard library chooses.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, n) for n ≥ 1, without modulo bias (draws from the incomplete top range are
  // redrawn).
  uint64_t Below(uint64_t n);

 private:
  uint64_t state_;
};

// The order in which a shuffled epoch visits examples 0..n-1: Fisher–Yates (from the last position
// down, swapping with Below(i + 1)) driven by SplitMix64 seeded with
// `seed` XOR SplitMix64(epoch).Next().
std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed, int epoch);

// What to do with the examples left after an epoch's full batches.
enum class LastBatch { kDrop, kPartial };

struct BatchOptions {
  int64_t batch_size = 32;
  bool shuffle = true;  // ShuffledOrder; otherwise examples in order
  uint64_t seed = 0;
  LastBatch last_batch = LastBatch::kDrop;
  int first_epoch = 0;
  int num_epochs = 1;
};

struct Batch {
  int epoch = 0;
  int64_t index = 0;  // within the epoch
  int64_t size =
      0;  // examples: batch_size, or fewer in an epoch's last batch under LastBatch::kPartial
  std::vector<Column> columns;  // the dataset's, in its order, mapped; each has `size` rows

  // The column called `name`, or nullptr.
  const Column* Find(const std::string& name) const;
};

class BatchIterator;

class Dataset {
 public:
  // InvalidArgument unless there is at least one column, names are distinct and non-empty, each
  // column's bytes match its shape (rank ≥ 1) and all columns hold the same number of examples.
  static StatusOr<Dataset> FromColumns(std::vector<Column> columns);

  int64_t size() const { return (*columns_)[0].rows(); }

  // This dataset with `fn` applied to column `column` of every batch, after the maps added before
  // it. NotFound for an unknown column. The examples are shared, not copied.
  StatusOr<Dataset> Map(const std::string& column, ColumnFn fn) const;

  // InvalidArgument for batch_size < 1, a negative first_epoch or num_epochs, or epochs that would
  // hold no batch (fewer examples than batch_size under LastBatch::kDrop, or none at all).
  StatusOr<BatchIterator> Batches(const BatchOptions& options) const;

 private:
  friend class BatchIterator;
  explicit Dataset(std::vector<Column> columns)
      : columns_(std::make_shared<const std::vector<Column>>(std::move(columns))) {}

  std::shared_ptr<const std::vector<Column>> columns_;
  std::vector<std::pair<size_t, ColumnFn>> maps_;  // (column index, transform), in order
};

// Yields a Dataset's batches, epoch by epoch. Shares the dataset's examples, so it may outlive the
// Dataset.
class BatchIterator {
 public:
  // The next batch, or nullopt after the last epoch. A Map error names the column; the next call
  // retries the same batch.
  StatusOr<std::optional<Batch>> Next();
  int64_t batches_per_epoch() const { return batches_per_epoch_; }

 private:
  friend class Dataset;
  BatchIterator(Dataset dataset, BatchOptions options, int64_t batches_per_epoch);

  Dataset dataset_;
  BatchOptions options_;
  int64_t batches_per_epoch_;
  int64_t end_epoch_;
  int epoch_;
  int64_t index_ = 0;           // of the next batch within epoch_
  std::vector<int64_t> order_;  // epoch_'s shuffled order, made at its first batch
};

// Runs a BatchIterator on a background thread that keeps up to `depth` batches ready, so the
// caller's training step does not wait for batches to be gathered and mapped. Yields exactly the
// sequence the iterator would, errors included (an exception thrown by a Map function becomes an
// Internal error).
class Prefetcher {
 public:
  // InvalidArgument for depth < 1; ResourceExhausted when no thread can be started.
  static StatusOr<Prefetcher> Start(BatchIterator batches, int depth = 2);
  Prefetcher(Prefetcher&& other) noexcept;
  Prefetcher& operator=(Prefetcher&& other) = delete;
  // Stops the thread, after the batch it is making, and joins it.
  ~Prefetcher();

  // As BatchIterator::Next; waits while the next batch is being made. After the end or an error,
  // returns it again.
  StatusOr<std::optional<Batch>> Next();

 private:
  struct Shared;  // what the two threads share
  Prefetcher(std::unique_ptr<Shared> shared, std::thread thread);
  static void Produce(Shared& shared);

  std::unique_ptr<Shared> shared_;
  std::thread thread_;
};

template <typename T>
Column Column::Of(std::string name, std::vector<int64_t> shape, std::vector<T> values) {
  Column column{std::move(name), ElementTypeOf<T>(), std::move(shape), {}};
  if constexpr (std::is_same_v<T, uint8_t>) {
    column.bytes = std::move(values);
  } else {
    const auto* bytes = reinterpret_cast<const uint8_t*>(values.data());
    column.bytes.assign(bytes, bytes + values.size() * sizeof(T));
  }
  return column;
}

template <typename In, typename Out, typename F>
ColumnFn Elementwise(F f) {
  return [f](Column column) -> StatusOr<Column> {
    const In* in = column.data<In>();
    if (in == nullptr) {
      return InvalidArgumentError(std::string("expected ") + ElementTypeName(ElementTypeOf<In>()) +
                                  ", got " + ElementTypeName(column.type));
    }
    std::vector<Out> out(column.num_elements());
    for (size_t i = 0; i < out.size(); ++i) out[i] = f(in[i]);
    return Column::Of<Out>(std::move(column.name), std::move(column.shape), std::move(out));
  };
}

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_DATA_DATASET_H_
