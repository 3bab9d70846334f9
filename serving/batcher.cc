#include "serving/batcher.h"

#include <utility>

namespace kiln {
namespace serving {

Batcher::Batcher(RunFn run, std::vector<size_t> output_row_bytes, int64_t max_batch,
                 std::chrono::microseconds max_delay, int instances)
    : run_(std::move(run)),
      output_row_bytes_(std::move(output_row_bytes)),
      max_batch_(max_batch),
      max_delay_(max_delay) {
  for (int i = 0; i < instances; ++i) instances_.emplace_back([this] { Instance(); });
}

Batcher::~Batcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  arrived_.notify_all();
  for (std::thread& t : instances_) t.join();
}

void Batcher::Submit(std::vector<std::string> inputs, int64_t rows,
                     std::function<void(Result)> done) {
  auto* pending =
      new Pending{std::move(inputs), rows, std::chrono::steady_clock::now(), std::move(done)};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(pending);
  }
  arrived_.notify_one();
}

void Batcher::Instance() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    arrived_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to run
    // Take requests while they fit; wait for more until the first one's deadline.
    std::vector<Pending*> batch;
    int64_t rows = 0;
    const auto deadline = queue_.front()->arrived + max_delay_;
    while (true) {
      while (!queue_.empty() && rows + queue_.front()->rows <= max_batch_) {
        rows += queue_.front()->rows;
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
      if (rows >= max_batch_ || !queue_.empty() || stopping_ ||
          std::chrono::steady_clock::now() >= deadline) {
        break;  // full, the next one does not fit, or no more waiting
      }
      arrived_.wait_until(lock, deadline);
    }
    const bool more = !queue_.empty();
    lock.unlock();
    if (more) arrived_.notify_one();  // another instance can start the next batch

    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> inputs(batch[0]->inputs.size());
    for (Pending* p : batch) {
      for (size_t i = 0; i < inputs.size(); ++i) inputs[i] += p->inputs[i];
    }
    std::vector<std::string> outputs;
    int64_t run_batch = 0;
    const auto run_start = std::chrono::steady_clock::now();
    rt::Status status = run_(inputs, rows, &outputs, &run_batch);
    const double compute_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    size_t row = 0;
    for (Pending* p : batch) {
      Result r;
      r.status = status;
      r.run_batch = run_batch;
      r.queue_seconds = std::chrono::duration<double>(start - p->arrived).count();
      r.compute_seconds = compute_seconds;
      r.first = p == batch.front();
      if (status.ok()) {
        for (size_t o = 0; o < outputs.size(); ++o) {
          r.outputs.push_back(
              outputs[o].substr(row * output_row_bytes_[o], p->rows * output_row_bytes_[o]));
        }
      }
      row += static_cast<size_t>(p->rows);
      p->done(std::move(r));
      delete p;
    }
    lock.lock();
  }
}

}  // namespace serving
}  // namespace kiln
