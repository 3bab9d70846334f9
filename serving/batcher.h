// Dynamic batching for kiln serve: requests for one model version are queued and run together, up
// to the largest compiled batch size, each batch waiting at most a configured delay after its first
// request for others, on a configured number of instances (threads, each with its own context).
#ifndef KILN_SERVING_BATCHER_H_
#define KILN_SERVING_BATCHER_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/status.h"

namespace kiln {
namespace serving {

class Batcher {
 public:
  // Runs `rows` rows: inputs[i] holds them (row-major, the model's dtype) for input i; fills
  // outputs[o] with the rows of output o, and the compiled batch size used.
  using RunFn = std::function<rt::Status(const std::vector<std::string>& inputs, int64_t rows,
                                         std::vector<std::string>* outputs, int64_t* run_batch)>;
  struct Result {
    rt::Status status;
    std::vector<std::string> outputs;
    int64_t run_batch = 0;
    double queue_seconds = 0;    // from arrival to the start of its batch's run
    double compute_seconds = 0;  // its batch's run
    bool first = false;          // the first request of its batch (to count each run once)
  };

  // `output_row_bytes[o]`: one row of output o, to split a batch's outputs back into requests.
  Batcher(RunFn run, std::vector<size_t> output_row_bytes, int64_t max_batch,
          std::chrono::microseconds max_delay, int instances);
  // Runs what is queued, then stops the instances.
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Queues a request of `rows` rows (at most the largest compiled batch); `done` gets its result
  // on an instance's thread.
  void Submit(std::vector<std::string> inputs, int64_t rows, std::function<void(Result)> done);

 private:
  struct Pending {
    std::vector<std::string> inputs;
    int64_t rows;
    std::chrono::steady_clock::time_point arrived;
    std::function<void(Result)> done;
  };
  void Instance();

  RunFn run_;
  std::vector<size_t> output_row_bytes_;
  int64_t max_batch_;
  std::chrono::microseconds max_delay_;
  std::mutex mutex_;
  std::condition_variable arrived_;
  std::deque<Pending*> queue_;
  bool stopping_ = false;
  std::vector<std::thread> instances_;
};

}  // namespace serving
}  // namespace kiln

#endif  // KILN_SERVING_BATCHER_H_
