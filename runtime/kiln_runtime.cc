// Kiln's runtime: contexts, the thread pool behind parallel loops, run-time errors.
#include "runtime/kiln_runtime.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "runtime/status.h"

namespace {

// True on a thread that is running a chunk of a parallel loop: a nested loop runs serially there.
thread_local bool in_parallel_loop = false;

// A fixed set of worker threads. One loop at a time (calls from several threads queue on `run_`);
// the calling thread runs chunks too, so num_threads - 1 workers are started.
class ThreadPool {
 public:
  explicit ThreadPool(int num_threads) : num_threads_(num_threads) {
    for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  // Splits [0, n) into at most num_threads contiguous chunks; returns when all have run.
  void ParallelFor(int64_t n, kiln_parallel_body body, void* closure) {
    std::lock_guard<std::mutex> run(run_);
    Job job;
    job.body = body;
    job.closure = closure;
    job.n = n;
    job.chunks = std::min<int64_t>(n, num_threads_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = &job;
      ++generation_;
    }
    wake_.notify_all();
    const int64_t finished = RunChunks(job);
    std::unique_lock<std::mutex> lock(mu_);
    job.done += finished;
    // The job lives on this stack: wait until no worker still holds it.
    done_.wait(lock, [&] { return job.done == job.chunks && job.users == 0; });
    job_ = nullptr;
  }

 private:
  struct Job {
    kiln_parallel_body body = nullptr;
    void* closure = nullptr;
    int64_t n = 0, chunks = 0;
    std::atomic<int64_t> next{0};
    int64_t done = 0;  // chunks finished (guarded by mu_)
    int users = 0;     // workers inside RunChunks (guarded by mu_)
  };

  // Runs chunks of `job` until none is left; returns how many this thread ran.
  static int64_t RunChunks(Job& job) {
    in_parallel_loop = true;
    int64_t finished = 0;
    for (int64_t c; (c = job.next.fetch_add(1)) < job.chunks; ++finished) {
      job.body(job.closure, c * job.n / job.chunks, (c + 1) * job.n / job.chunks);
    }
    in_parallel_loop = false;
    return finished;
  }

  void Work() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (job_ != nullptr && generation_ != seen); });
      if (stop_) return;
      seen = generation_;
      Job* job = job_;
      ++job->users;
      lock.unlock();
      const int64_t finished = RunChunks(*job);
      lock.lock();
      job->done += finished;
      --job->users;
      if (job->done == job->chunks && job->users == 0) done_.notify_all();
    }
  }

  const int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex run_;  // one loop at a time
  std::mutex mu_;
  std::condition_variable wake_, done_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  Job* job_ = nullptr;
};

}  // namespace

struct kiln_context {
  int num_threads = 1;
  ThreadPool* pool = nullptr;  // owned; null with one thread or a caller's scheduler
  kiln_scheduler scheduler = nullptr;
  void* scheduler_data = nullptr;
  std::mutex mu;  // guards the status and the library state
  kiln_status_code status = KILN_OK;
  std::string message;
  struct LibraryState {
    const void* key;
    void* state;
    void (*destroy)(void*);
  };
  std::vector<LibraryState> libraries;  // in the order they were made
};

extern "C" {

const char* kiln_status_code_name(kiln_status_code code) {
  switch (code) {
    case KILN_OK: return "OK";
    case KILN_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case KILN_NOT_FOUND: return "NOT_FOUND";
    case KILN_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case KILN_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case KILN_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case KILN_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case KILN_INTERNAL: return "INTERNAL";
    case KILN_UNAVAILABLE: return "UNAVAILABLE";
    case KILN_DATA_LOSS: return "DATA_LOSS";
  }
  return "UNKNOWN";
}

size_t kiln_dtype_size(kiln_dtype dtype) {
  switch (dtype) {
    case KILN_F64:
    case KILN_I64: return 8;
    case KILN_F32:
    case KILN_I32: return 4;
    case KILN_F16:
    case KILN_BF16: return 2;
    case KILN_I8:
    case KILN_BOOL: return 1;
  }
  return 0;
}

const char* kiln_dtype_name(kiln_dtype dtype) {
  switch (dtype) {
    case KILN_F32: return "f32";
    case KILN_F64: return "f64";
    case KILN_F16: return "f16";
    case KILN_BF16: return "bf16";
    case KILN_I8: return "i8";
    case KILN_I32: return "i32";
    case KILN_I64: return "i64";
    case KILN_BOOL: return "bool";
  }
  return "?";
}

int64_t kiln_tensor_num_elements(const kiln_tensor* tensor) {
  int64_t n = 1;
  for (int32_t d = 0; d < tensor->rank; ++d) n *= tensor->shape[d];
  return n;
}

size_t kiln_tensor_bytes(const kiln_tensor* tensor) {
  return static_cast<size_t>(kiln_tensor_num_elements(tensor)) * kiln_dtype_size(tensor->dtype);
}

kiln_context* kiln_context_create(int num_threads) {
  if (num_threads <= 0) num_threads = std::max(1u, std::thread::hardware_concurrency());
  auto* context = new (std::nothrow) kiln_context;
  if (context == nullptr) return nullptr;
  context->num_threads = num_threads;
  if (num_threads > 1) {
    try {
      context->pool = new ThreadPool(num_threads);
    } catch (...) {  // std::system_error when threads cannot be started
      delete context;
      return nullptr;
    }
  }
  return context;
}

kiln_context* kiln_context_create_with_scheduler(kiln_scheduler scheduler, void* user_data,
                                                 int num_threads) {
  if (scheduler == nullptr) return nullptr;
  auto* context = new (std::nothrow) kiln_context;
  if (context == nullptr) return nullptr;
  context->num_threads = std::max(1, num_threads);
  context->scheduler = scheduler;
  context->scheduler_data = user_data;
  return context;
}

void kiln_context_destroy(kiln_context* context) {
  if (context == nullptr) return;
  // Later libraries may use earlier ones (cuBLASLt the CUDA driver): released in reverse.
  for (auto it = context->libraries.rbegin(); it != context->libraries.rend(); ++it)
    it->destroy(it->state);
  delete context->pool;
  delete context;
}

int kiln_context_num_threads(const kiln_context* context) { return context->num_threads; }

kiln_status_code kiln_context_status(const kiln_context* context) {
  std::lock_guard<std::mutex> lock(const_cast<kiln_context*>(context)->mu);
  return context->status;
}

const char* kiln_context_message(const kiln_context* context) {
  std::lock_guard<std::mutex> lock(const_cast<kiln_context*>(context)->mu);
  return context->message.c_str();
}

void kiln_context_clear_status(kiln_context* context) {
  std::lock_guard<std::mutex> lock(context->mu);
  context->status = KILN_OK;
  context->message.clear();
}

void kiln_context_set_error(kiln_context* context, kiln_status_code code, const char* message) {
  if (context == nullptr) {
    std::fprintf(stderr, "kiln: %s: %s\n", kiln_status_code_name(code), message);
    return;
  }
  std::lock_guard<std::mutex> lock(context->mu);
  if (context->status != KILN_OK) return;
  context->status = code;
  context->message = message;
}

void* kiln_context_library_state(kiln_context* context, const void* key, void* (*create)(void),
                                 void (*destroy)(void*)) {
  std::lock_guard<std::mutex> lock(context->mu);
  for (const kiln_context::LibraryState& library : context->libraries) {
    if (library.key == key) return library.state;
  }
  void* state = create();
  if (state != nullptr) context->libraries.push_back({key, state, destroy});
  return state;
}

void* kiln_aligned_alloc(size_t bytes) {
  // aligned_alloc wants a multiple of the alignment.
  return std::aligned_alloc(64, std::max<size_t>(64, (bytes + 63) / 64 * 64));
}

void kiln_aligned_free(void* memory) { std::free(memory); }

void kiln_rt_index_error(kiln_context* context, const char* where, const char* what,
                         int64_t position, int64_t index, int64_t limit) {
  const std::string message = std::string(where) + ": " + what + " " + std::to_string(index) +
                              " at flat position " + std::to_string(position) +
                              " is out of range [0, " + std::to_string(limit) + ")";
  kiln_context_set_error(context, KILN_OUT_OF_RANGE, message.c_str());
}

void kiln_rt_parallel_for(kiln_context* context, int64_t n, kiln_parallel_body body,
                          void* closure) {
  if (n <= 0) return;
  if (context == nullptr || context->num_threads <= 1 || n == 1 || in_parallel_loop) {
    body(closure, 0, n);
  } else if (context->scheduler != nullptr) {
    context->scheduler(context->scheduler_data, n, body, closure);
  } else {
    context->pool->ParallelFor(n, body, closure);
  }
}

}  // extern "C"

namespace kiln {
namespace rt {

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(kiln_status_code_name(code_)) + ": " + message_;
}

}  // namespace rt
}  // namespace kiln
