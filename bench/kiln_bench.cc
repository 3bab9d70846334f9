// Kiln's CPU benchmarks (Google Benchmark): each workload of bench/build_workloads.cc, compiled
// ahead of time by kilnc (bench/BUILD), timed one Run() per iteration, beside two ceilings of this
// machine:
//
//   kiln/<workload>           one Run() of the compiled graph (training graphs: a full SGD step,
//                             forward, backward and update, every iteration). Inputs are filled
//                             once with seeded random values before timing: f32 uniform in
//                             [-1, 1), i32 labels in [0, 10), learning_rate 0.01.
//   ceiling/dnnl_sgemm/M:../K:../N:..
//                             oneDNN matmul [M,K] x [K,N] (f32, plain row-major: the primitive
//                             Kiln's runtime calls) as GFLOP/s = 2*M*K*N / time, on W1's biggest
//                             layer [128,784] x [784,512] and on [1024,1024] x [1024,1024]
//   ceiling/memcpy/bytes:..   memcpy of 4096*1024*4 bytes (W4's tensor) as GB/s
// (Names end in /real_time.)
//
// Counters: us_per_run (wall-clock microseconds per iteration), items_per_second (examples for the
// MLP and CNN, tokens for the encoder layer, elements for W4), bytes_per_second where a workload is
// memory-bound (W4: x read + y written), GFLOP/s for the matmuls of inference workloads (MLP,
// encoder layer) and the sgemm ceiling, GB/s for memcpy (GB = 1e9 bytes; Google Benchmark's own
// bytes_per_second prints with 1024-based prefixes). All times are wall-clock (UseRealTime): the
// work runs on other threads too, which the main thread's CPU time would miss.
//
// Threads: oneDNN (matmuls and convolutions) runs on OpenMP threads, so the thread count is set by
// the process's OMP_NUM_THREADS environment variable (unset: one per hardware thread). The compiled
// graphs' own parallel loops run on the same OpenMP threads (kiln_dnnl_context_create), so one
// variable sets both. The count is printed in the output's context ("omp_num_threads"). Compare
// runs at a fixed count, e.g. OMP_NUM_THREADS=1 and =2 on the 2-core development machine.
//
//   OMP_NUM_THREADS=2 bazel run //bench:kiln_bench -- --benchmark_min_time=0.2
//   OMP_NUM_THREADS=1 bazel run //bench:kiln_bench -- --benchmark_filter=kiln/w4
//       --benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_format=json
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/w1b1.h"
#include "bench/w1b128.h"
#include "bench/w1b128_portable.h"
#include "bench/w2.h"
#include "bench/w2_portable.h"
#include "bench/w3.h"
#include "bench/w3_portable.h"
#include "bench/w4a.h"
#include "bench/w4b.h"
#include "bench/w5.h"
#include "bench/w5_portable.h"
#include "dnnl.hpp"
#include "runtime/dnnl_kernels.h"
#include "runtime/runtime.h"

namespace {

// OMP_NUM_THREADS when set to a positive number, else the hardware threads (OpenMP's default).
int NumThreads() {
  const char* env = std::getenv("OMP_NUM_THREADS");
  const int n = env != nullptr ? std::atoi(env) : 0;
  return n > 0 ? n : static_cast<int>(std::thread::hardware_concurrency());
}

kiln::rt::Context& SharedContext() {
  // On OpenMP's threads, which oneDNN uses too (runtime/dnnl_kernels.h): a second pool would
  // compete with them for the cores.
  static kiln::rt::Context* context = new kiln::rt::Context(kiln_dnnl_context_create(NumThreads()));
  return *context;
}

// Wall-clock seconds since construction: started just before a timed loop, read just after it.
class Stopwatch {
 public:
  double Seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
};

// Sets us_per_run and the rates `name` of `per_run` units per iteration (e.g. "GFLOP/s" of
// flops * 1e-9; none when 0), from the timed loop's wall-clock seconds. Plain numbers, as JSON
// carries them.
void SetCounters(benchmark::State& state, double seconds,
                 std::initializer_list<std::pair<const char*, double>> rates = {}) {
  if (state.iterations() == 0 || seconds <= 0) return;
  const double runs = static_cast<double>(state.iterations());
  state.counters["us_per_run"] = seconds * 1e6 / runs;
  for (const auto& [name, per_run] : rates) {
    if (per_run > 0) state.counters[name] = per_run * runs / seconds;
  }
}

// Fills a model's inputs: labels (i32) in [0, 10), learning_rate 0.01, other f32 uniform [-1, 1).
template <size_t N>
void FillInputs(const std::array<kiln_tensor, N>& inputs, uint32_t seed) {
  std::mt19937 rng(seed);
  for (const kiln_tensor& t : inputs) {
    const int64_t n = kiln_tensor_num_elements(&t);
    if (t.dtype == KILN_I32) {
      std::uniform_int_distribution<int32_t> label(0, 9);
      for (int64_t i = 0; i < n; ++i) static_cast<int32_t*>(t.data)[i] = label(rng);
    } else if (t.dtype == KILN_F32) {
      std::uniform_real_distribution<float> value(-1.0f, 1.0f);
      const bool lr = std::strcmp(t.name, "learning_rate") == 0;
      for (int64_t i = 0; i < n; ++i) static_cast<float*>(t.data)[i] = lr ? 0.01f : value(rng);
    }
  }
}

// What one Run() of a workload processes, for the rate counters (0: not reported).
struct Work {
  int64_t items = 0;
  int64_t bytes = 0;
  double flops = 0;
};

template <typename Model>
void BM_Kiln(benchmark::State& state, Work work) {
  auto model = std::make_unique<Model>(&SharedContext());
  FillInputs(model->inputs(), /*seed=*/1);
  Stopwatch stopwatch;
  for (auto _ : state) {
    if (kiln::rt::Status s = model->Run(); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  const double seconds = stopwatch.Seconds();
  for (const kiln_tensor& t : model->outputs()) {  // e.g. a diverged training loss
    const float* data = static_cast<const float*>(t.data);
    for (int64_t i = 0; t.dtype == KILN_F32 && i < kiln_tensor_num_elements(&t); ++i) {
      if (!std::isfinite(data[i])) {
        state.SkipWithError((std::string("non-finite output '") + t.name + "'").c_str());
        return;
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * work.items);
  if (work.bytes > 0) state.SetBytesProcessed(state.iterations() * work.bytes);
  SetCounters(state, seconds, {{"GFLOP/s", work.flops * 1e-9}});
}

// oneDNN's f32 matmul [m,k] x [k,n], plain row-major operands, primitive made once.
void BM_DnnlSgemm(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  using Desc = dnnl::memory::desc;
  const auto f32 = dnnl::memory::data_type::f32;
  const auto ab = dnnl::memory::format_tag::ab;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  Desc a_md({m, k}, f32, ab), b_md({k, n}, f32, ab), c_md({m, n}, f32, ab);
  dnnl::matmul matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), engine));
  dnnl::memory a(a_md, engine), b(b_md, engine), c(c_md, engine);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  for (const dnnl::memory* mem : {&a, &b, &c}) {
    float* p = static_cast<float*>(mem->get_data_handle());
    for (size_t i = 0; i < mem->get_desc().get_size() / sizeof(float); ++i) p[i] = value(rng);
  }
  Stopwatch stopwatch;
  for (auto _ : state) {
    matmul.execute(stream, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}});
    stream.wait();
  }
  SetCounters(state, stopwatch.Seconds(), {{"GFLOP/s", 2.0 * m * k * n * 1e-9}});
}

// memcpy of `bytes` between two touched buffers. Each copy reads `bytes` and writes `bytes`, so it
// counts 2 x bytes: GB/s (and bytes_per_second) are read + write traffic, comparable with W4's.
void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = state.range(0);
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  Stopwatch stopwatch;
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  const double seconds = stopwatch.Seconds();
  state.SetBytesProcessed(state.iterations() * 2 * static_cast<int64_t>(bytes));
  SetCounters(state, seconds, {{"GB/s", 2.0 * bytes * 1e-9}});
}

// Matmul FLOPs of the MLP's forward pass at batch n, and of the encoder layer.
constexpr double MlpFlops(int64_t n) { return 2.0 * n * (784 * 512 + 512 * 512 + 512 * 10); }
constexpr int64_t kTokens = 8 * 128;
constexpr double kEncoderFlops = 2.0 * kTokens * (4 * 256 * 256 + 2 * 256 * 1024)  // dense layers
                                 + 2 * 2.0 * 8 * 4 * 128 * 128 * 64;               // QK^T, PV
// W4: items are elements, bytes are x read + y written (4 + 4 per element).
constexpr int64_t kW4Elements = 4096 * 1024;

void RegisterAll() {
  using namespace kiln_generated;  // NOLINT: the generated classes
  auto add = [](const char* name, void (*fn)(benchmark::State&, Work), Work work) {
    benchmark::RegisterBenchmark(name, fn, work)->UseRealTime()->Unit(benchmark::kMicrosecond);
  };
  add("kiln/w1b1_mlp_infer", BM_Kiln<W1b1>, {1, 0, MlpFlops(1)});
  add("kiln/w1b128_mlp_infer", BM_Kiln<W1b128>, {128, 0, MlpFlops(128)});
  add("kiln/w2_mlp_train_sgd_b128", BM_Kiln<W2>, {128});
  add("kiln/w3_cnn_train_sgd_b64", BM_Kiln<W3>, {64});
  add("kiln/w4a_gelu_affine", BM_Kiln<W4a>, {kW4Elements, 8 * kW4Elements});
  add("kiln/w4b_layernorm", BM_Kiln<W4b>, {kW4Elements, 8 * kW4Elements});
  add("kiln/w5_encoder_layer", BM_Kiln<W5>, {kTokens, 0, kEncoderFlops});
  // The same graphs without oneDNN (kilnc --no-library-calls): the portable path.
  add("portable/w1b128_mlp_infer", BM_Kiln<W1b128Portable>, {128, 0, MlpFlops(128)});
  add("portable/w2_mlp_train_sgd_b128", BM_Kiln<W2Portable>, {128});
  add("portable/w3_cnn_train_sgd_b64", BM_Kiln<W3Portable>, {64});
  add("portable/w5_encoder_layer", BM_Kiln<W5Portable>, {kTokens, 0, kEncoderFlops});
  benchmark::RegisterBenchmark("ceiling/dnnl_sgemm", BM_DnnlSgemm)
      ->Args({128, 784, 512})
      ->Args({1024, 1024, 1024})
      ->ArgNames({"M", "K", "N"})
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark("ceiling/memcpy", BM_Memcpy)
      ->Arg(4 * kW4Elements)
      ->ArgName("bytes")
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("omp_num_threads", std::to_string(NumThreads()));
  RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
