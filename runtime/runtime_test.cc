#include "runtime/runtime.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/kiln_runtime.h"
#include "runtime/status.h"

namespace kiln {
namespace rt {
namespace {

void MarkRange(void* closure, int64_t begin, int64_t end) {
  auto* hits = static_cast<std::vector<std::atomic<int>>*>(closure);
  for (int64_t i = begin; i < end; ++i) ++(*hits)[i];
}

// Records which library states were released, in order.
std::vector<int>& Released() {
  static std::vector<int> released;
  return released;
}

TEST_CASE("a context holds several libraries' states, released in reverse order of making") {
  static const char first_key = 0, second_key = 0;
  Released().clear();
  {
    Context context;
    auto make_first = [] { return static_cast<void*>(new int(1)); };
    auto make_second = [] { return static_cast<void*>(new int(2)); };
    auto release = [](void* s) {
      Released().push_back(*static_cast<int*>(s));
      delete static_cast<int*>(s);
    };
    void* first = kiln_context_library_state(context.get(), &first_key, make_first, release);
    void* second = kiln_context_library_state(context.get(), &second_key, make_second, release);
    REQUIRE(first != second);
    REQUIRE(*static_cast<int*>(first) == 1);
    REQUIRE(*static_cast<int*>(second) == 2);
    // Asked again, each library gets its own state, not a new one.
    REQUIRE(kiln_context_library_state(context.get(), &first_key, make_second, release) == first);
    REQUIRE(kiln_context_library_state(context.get(), &second_key, make_first, release) == second);
    // A library whose state cannot be made gets NULL, and no slot.
    static const char failing_key = 0;
    REQUIRE(kiln_context_library_state(
                context.get(), &failing_key, [] { return static_cast<void*>(nullptr); }, release) ==
            nullptr);
    REQUIRE(Released().empty());
  }
  REQUIRE(Released() == std::vector<int>{2, 1});
}

TEST_CASE("parallel_for runs every iteration exactly once") {
  for (int threads : {1, 2, 3, 8}) {
    Context context(threads);
    REQUIRE(context.num_threads() == threads);
    for (int64_t n : {0, 1, 2, 7, 100, 1001}) {
      for (int repeat = 0; repeat < 20; ++repeat) {
        std::vector<std::atomic<int>> hits(n);
        kiln_rt_parallel_for(context.get(), n, MarkRange, &hits);
        for (int64_t i = 0; i < n; ++i) REQUIRE(hits[i].load() == 1);
      }
    }
  }
}

TEST_CASE("parallel_for uses several threads and runs nested loops serially") {
  Context context(4);
  struct Probe {
    kiln_context* context;
    std::mutex mu;
    std::vector<std::thread::id> ids;
    std::atomic<int> inner{0};
  } probe{context.get()};
  auto body = [](void* closure, int64_t begin, int64_t end) {
    auto* p = static_cast<Probe*>(closure);
    {
      std::lock_guard<std::mutex> lock(p->mu);
      p->ids.push_back(std::this_thread::get_id());
    }
    // A nested loop: must not deadlock, and runs in one piece on this thread.
    kiln_rt_parallel_for(
        p->context, 10,
        [](void* c, int64_t b, int64_t e) {
          static_cast<Probe*>(c)->inner += static_cast<int>(e - b) * (b == 0 && e == 10 ? 1 : 1000);
        },
        p);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    (void)begin, (void)end;
  };
  kiln_rt_parallel_for(context.get(), 4, body, &probe);
  REQUIRE(probe.ids.size() == 4);
  REQUIRE(probe.inner.load() == 40);
  std::sort(probe.ids.begin(), probe.ids.end());
  REQUIRE(std::unique(probe.ids.begin(), probe.ids.end()) - probe.ids.begin() > 1);
}

TEST_CASE("parallel_for from several threads on one context") {
  Context context(3);
  std::vector<std::thread> callers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int r = 0; r < 50; ++r) {
        std::vector<std::atomic<int>> hits(37);
        kiln_rt_parallel_for(context.get(), 37, MarkRange, &hits);
        for (auto& h : hits) failures += h.load() != 1;
      }
    });
  }
  for (auto& t : callers) t.join();
  REQUIRE(failures.load() == 0);
}

TEST_CASE("a caller-supplied scheduler runs the loops") {
  struct Scheduler {
    int calls = 0;
    static void Run(void* user, int64_t n, kiln_parallel_body body, void* closure) {
      ++static_cast<Scheduler*>(user)->calls;
      // In two pieces, in reverse order, as a foreign pool might.
      body(closure, n / 2, n);
      body(closure, 0, n / 2);
    }
  } scheduler;
  Context context(&Scheduler::Run, &scheduler, 2);
  std::vector<std::atomic<int>> hits(11);
  kiln_rt_parallel_for(context.get(), 11, MarkRange, &hits);
  REQUIRE(scheduler.calls == 1);
  for (auto& h : hits) REQUIRE(h.load() == 1);
}

TEST_CASE("index errors: the first one is kept, with a message that names the op") {
  Context context;
  REQUIRE(context.TakeStatus().ok());
  kiln_rt_index_error(context.get(), "Gather 'embed' (model.cc:12)", "index", 5, 7, 3);
  kiln_rt_index_error(context.get(), "Gather 'other'", "index", 0, -1, 3);
  REQUIRE(kiln_context_status(context.get()) == KILN_OUT_OF_RANGE);
  Status s = context.TakeStatus();
  REQUIRE(s.code() == KILN_OUT_OF_RANGE);
  REQUIRE(s.message() ==
          "Gather 'embed' (model.cc:12): index 7 at flat position 5 is out of range [0, 3)");
  REQUIRE(s.ToString().rfind("OUT_OF_RANGE: Gather 'embed'", 0) == 0);
  REQUIRE(context.TakeStatus().ok());
  REQUIRE(std::string(kiln_context_message(context.get())).empty());
}

TEST_CASE("dtypes, tensors and aligned memory") {
  REQUIRE(kiln_dtype_size(KILN_F32) == 4);
  REQUIRE(kiln_dtype_size(KILN_I64) == 8);
  REQUIRE(kiln_dtype_size(KILN_BOOL) == 1);
  REQUIRE(kiln_dtype_size(static_cast<kiln_dtype>(99)) == 0);
  REQUIRE(std::string(kiln_dtype_name(KILN_BF16)) == "bf16");
  const int64_t shape[2] = {3, 5};
  kiln_tensor t{"w", KILN_F64, 2, shape, nullptr};
  REQUIRE(kiln_tensor_num_elements(&t) == 15);
  REQUIRE(kiln_tensor_bytes(&t) == 120);
  for (size_t bytes : {0, 1, 63, 64, 1000}) {
    AlignedBuffer buffer(bytes);
    REQUIRE(buffer.data() != nullptr);
    REQUIRE(reinterpret_cast<uintptr_t>(buffer.data()) % 64 == 0);
  }
}

TEST_CASE("StatusOr holds a value or an error") {
  StatusOr<int> v = 3;
  REQUIRE(v.ok());
  REQUIRE(*v == 3);
  StatusOr<int> e = DataLossError("bad checksum");
  REQUIRE(!e.ok());
  REQUIRE(e.status().code() == KILN_DATA_LOSS);
  REQUIRE(e.status().ToString() == "DATA_LOSS: bad checksum");
}

}  // namespace
}  // namespace rt
}  // namespace kiln
