#include "runtime/data/dataset.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
#include <system_error>

namespace kiln {
namespace rt {
namespace {

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// OK when the column's bytes hold exactly the elements its type and shape (rank ≥ 1) call for. The
// message does not name the column; callers do.
Status ValidateColumn(const Column& column) {
  const size_t element_size = ElementSize(column.type);
  if (element_size == 0) {
    return InvalidArgumentError("unknown element type " +
                                std::to_string(static_cast<int>(column.type)));
  }
  if (column.shape.empty())
    return InvalidArgumentError("rank 0 (the first dimension indexes examples)");
  // Counted in a way that cannot overflow: any count beyond the elements the bytes hold is wrong.
  const int64_t max_elements = static_cast<int64_t>(column.bytes.size() / element_size);
  int64_t elements = 1;
  for (int64_t d : column.shape) {
    if (d < 0) return InvalidArgumentError("negative extent in shape " + ShapeString(column.shape));
    elements = d == 0 || elements <= max_elements / d ? elements * d : max_elements + 1;
  }
  if (static_cast<uint64_t>(elements) * element_size != column.bytes.size()) {
    return InvalidArgumentError(std::to_string(column.bytes.size()) + " bytes do not hold " +
                                ElementTypeName(column.type) + " " + ShapeString(column.shape));
  }
  return OkStatus();
}

// BatchIterator::Next, with an exception (say bad_alloc in a Map function) turned into an error: it
// must not escape the prefetch thread.
StatusOr<std::optional<Batch>> NextOrError(BatchIterator& batches) {
  try {
    return batches.Next();
  } catch (const std::exception& e) {
    return InternalError(std::string("making a batch threw: ") + e.what());
  }
}

}  // namespace

size_t ElementSize(ElementType type) {
  switch (type) {
    case ElementType::kU8: return 1;
    case ElementType::kI32:
    case ElementType::kF32: return 4;
    case ElementType::kI64:
    case ElementType::kF64: return 8;
  }
  return 0;
}

const char* ElementTypeName(ElementType type) {
  switch (type) {
    case ElementType::kU8: return "u8";
    case ElementType::kI32: return "i32";
    case ElementType::kI64: return "i64";
    case ElementType::kF32: return "f32";
    case ElementType::kF64: return "f64";
  }
  return "?";
}

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::Below(uint64_t n) {
  // Draws below 2^64 mod n would make the smallest results likelier; the rest split evenly.
  const uint64_t reject_below = -n % n;
  for (;;) {
    const uint64_t x = Next();
    if (x >= reject_below) return x % n;
  }
}

std::vector<int64_t> ShuffledOrder(int64_t n, uint64_t seed, int epoch) {
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 random(seed ^ SplitMix64(static_cast<uint64_t>(epoch)).Next());
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[random.Below(i + 1)]);
  return order;
}

const Column* Batch::Find(const std::string& name) const {
  for (const Column& column : columns) {
    if (column.name == name) return &column;
  }
  return nullptr;
}

StatusOr<Dataset> Dataset::FromColumns(std::vector<Column> columns) {
  if (columns.empty()) return InvalidArgumentError("a dataset needs at least one column");
  for (size_t i = 0; i < columns.size(); ++i) {
    const Column& column = columns[i];
    if (column.name.empty())
      return InvalidArgumentError("column " + std::to_string(i) + " has no name");
    const Status valid = ValidateColumn(column);
    if (!valid.ok())
      return InvalidArgumentError("column '" + column.name + "': " + valid.message());
    for (size_t j = 0; j < i; ++j) {
      if (columns[j].name == column.name) {
        return InvalidArgumentError("two columns are named '" + column.name + "'");
      }
    }
    if (column.rows() != columns[0].rows()) {
      return InvalidArgumentError("column '" + column.name + "' holds " +
                                  std::to_string(column.rows()) + " examples, column '" +
                                  columns[0].name + "' " + std::to_string(columns[0].rows()));
    }
  }
  return Dataset(std::move(columns));
}

StatusOr<Dataset> Dataset::Map(const std::string& column, ColumnFn fn) const {
  if (!fn) return InvalidArgumentError("Map of column '" + column + "': empty function");
  std::string names;
  for (size_t i = 0; i < columns_->size(); ++i) {
    if ((*columns_)[i].name == column) {
      Dataset mapped = *this;
      mapped.maps_.emplace_back(i, std::move(fn));
      return mapped;
    }
    names += (i ? ", " : "") + (*columns_)[i].name;
  }
  return NotFoundError("Map: no column '" + column + "' (the columns are " + names + ")");
}

StatusOr<BatchIterator> Dataset::Batches(const BatchOptions& options) const {
  if (options.batch_size < 1) {
    return InvalidArgumentError("batch_size must be at least 1, got " +
                                std::to_string(options.batch_size));
  }
  if (options.first_epoch < 0 || options.num_epochs < 0) {
    return InvalidArgumentError("first_epoch " + std::to_string(options.first_epoch) +
                                " and num_epochs " + std::to_string(options.num_epochs) +
                                " must not be negative");
  }
  const int64_t full = size() / options.batch_size;
  const bool partial =
      options.last_batch == LastBatch::kPartial && size() % options.batch_size != 0;
  const int64_t batches = full + (partial ? 1 : 0);
  if (batches == 0) {
    return InvalidArgumentError(
        "an epoch of " + std::to_string(size()) + " examples holds no batch of " +
        std::to_string(options.batch_size) +
        (size() == 0 ? "" : " (use a smaller batch_size, or LastBatch::kPartial)"));
  }
  return BatchIterator(*this, options, batches);
}

BatchIterator::BatchIterator(Dataset dataset, BatchOptions options, int64_t batches_per_epoch)
    : dataset_(std::move(dataset)),
      options_(options),
      batches_per_epoch_(batches_per_epoch),
      end_epoch_(int64_t{options.first_epoch} + options.num_epochs),
      epoch_(options.first_epoch) {}

StatusOr<std::optional<Batch>> BatchIterator::Next() {
  if (epoch_ == end_epoch_) return std::optional<Batch>();
  const int64_t n = dataset_.size();
  if (index_ == 0 && options_.shuffle) order_ = ShuffledOrder(n, options_.seed, epoch_);
  const int64_t begin = index_ * options_.batch_size;
  Batch batch;
  batch.epoch = epoch_;
  batch.index = index_;
  batch.size = std::min(options_.batch_size, n - begin);
  for (const Column& column : *dataset_.columns_) {
    Column gathered{column.name, column.type, column.shape, {}};
    gathered.shape[0] = batch.size;
    const size_t row_bytes = column.bytes.size() / n;
    gathered.bytes.resize(batch.size * row_bytes);
    for (int64_t i = 0; i < batch.size; ++i) {
      const int64_t row = options_.shuffle ? order_[begin + i] : begin + i;
      std::copy_n(column.bytes.data() + row * row_bytes, row_bytes,
                  gathered.bytes.data() + i * row_bytes);
    }
    batch.columns.push_back(std::move(gathered));
  }
  for (const auto& [index, fn] : dataset_.maps_) {
    const std::string& name = (*dataset_.columns_)[index].name;
    StatusOr<Column> mapped = fn(std::move(batch.columns[index]));
    Status status = mapped.status();
    if (status.ok()) {
      mapped->name = name;
      status = ValidateColumn(*mapped);
    }
    if (status.ok() && mapped->rows() != batch.size) {
      status = InvalidArgumentError("returned " + std::to_string(mapped->rows()) +
                                    " rows for a batch of " + std::to_string(batch.size));
    }
    if (!status.ok())
      return Status(status.code(), "Map of column '" + name + "': " + status.message());
    batch.columns[index] = std::move(mapped).value();
  }
  if (++index_ == batches_per_epoch_) {
    index_ = 0;
    ++epoch_;
  }
  return std::optional<Batch>(std::move(batch));
}

struct Prefetcher::Shared {
  Shared(BatchIterator batches, size_t depth) : batches(std::move(batches)), depth(depth) {}
  BatchIterator batches;  // used by the thread only
  const size_t depth;
  std::mutex mutex;
  std::condition_variable changed;                   // `ready` or `stop` changed
  std::deque<StatusOr<std::optional<Batch>>> ready;  // oldest first; the end or an error comes last
  bool stop = false;
};

StatusOr<Prefetcher> Prefetcher::Start(BatchIterator batches, int depth) {
  if (depth < 1) {
    return InvalidArgumentError("prefetch depth must be at least 1, got " + std::to_string(depth));
  }
  auto shared = std::make_unique<Shared>(std::move(batches), depth);
  try {
    std::thread thread(Produce, std::ref(*shared));
    return Prefetcher(std::move(shared), std::move(thread));
  } catch (const std::system_error& e) {
    return ResourceExhaustedError(std::string("cannot start the prefetch thread: ") + e.what());
  }
}

Prefetcher::Prefetcher(std::unique_ptr<Shared> shared, std::thread thread)
    : shared_(std::move(shared)), thread_(std::move(thread)) {}

Prefetcher::Prefetcher(Prefetcher&& other) noexcept = default;

Prefetcher::~Prefetcher() {
  if (shared_ == nullptr) return;  // moved from
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    shared_->stop = true;
  }
  shared_->changed.notify_all();
  thread_.join();
}

void Prefetcher::Produce(Shared& shared) {
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(shared.mutex);
      shared.changed.wait(lock, [&] { return shared.stop || shared.ready.size() < shared.depth; });
      if (shared.stop) return;
    }
    // Made without the lock, so the consumer takes ready batches meanwhile.
    StatusOr<std::optional<Batch>> next = NextOrError(shared.batches);
    const bool last = !next.ok() || !next->has_value();
    {
      std::lock_guard<std::mutex> lock(shared.mutex);
      shared.ready.push_back(std::move(next));
    }
    shared.changed.notify_all();
    if (last) return;
  }
}

StatusOr<std::optional<Batch>> Prefetcher::Next() {
  std::unique_lock<std::mutex> lock(shared_->mutex);
  shared_->changed.wait(lock, [&] { return !shared_->ready.empty(); });
  StatusOr<std::optional<Batch>>& front = shared_->ready.front();
  if (!front.ok() || !front->has_value()) return front;  // the last item stays for later calls
  StatusOr<std::optional<Batch>> next = std::move(front);
  shared_->ready.pop_front();
  lock.unlock();
  shared_->changed.notify_all();
  return next;
}

}  // namespace rt
}  // namespace kiln
