// Runs recorded GPU cases (testing/jit_runner.h, WriteGpuCase) on a GPU: each case's compiled code
// (case.so, linked from case.o by test/gpu/build.sh) against the interpreter's results recorded
// with it, step by step, first with plain stream launches and then replayed from a CUDA graph
// captured from one step; cases recorded as benchmarks are also timed both ways. Needs only Kiln's
// runtime and the CUDA driver: the GPU machines have no MLIR, LLVM or Bazel.
//
// Usage: gpu_case_runner [--driver PATH] [--bench-json FILE] [--filter TEXT] [--after NAME]
//                        [--case-timeout S] CASES_DIR
// (the driver: PATH, else $KILN_CUDA_DRIVER, else libcuda.so.1; --after: only the cases sorted
// after NAME). Prints a line per case and ends with "N passed, M failed"; exits 1 when any failed.
// A fault that leaves the GPU context unusable (an illegal address, say) would fail every later
// case too: the runner then prints "RESTART after NAME" and exits 3, for test/gpu/run.sh to start a
// fresh process with --after NAME. So does a case that has no result after --case-timeout seconds
// (default 30: a kernel that never ends; the stream cannot be stopped).
#include <dirent.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "runtime/cuda.h"
#include "runtime/kiln_runtime.h"
#include "testing/gpu_case_value.h"

// The hooks compiled host code calls, kept in the executable and exported (-rdynamic) for the
// cases' shared objects.
extern "C" {
void* kiln_gpu_case_runner_hooks[] = {
#define KILN_HOOK(name, library, ...) KILN_CASE_HOOK_##library(name)
#define KILN_CASE_HOOK_CORE(name) reinterpret_cast<void*>(&name),
#define KILN_CASE_HOOK_DNNL(name)
#define KILN_CASE_HOOK_CUDA(name) reinterpret_cast<void*>(&name),
#include "runtime/hooks.def"
};
}

namespace {

struct Argument {
  std::string kind, dtype, name;
  int64_t element_bytes = 0, count = 0;
  int64_t bytes() const { return element_bytes * count; }
};

struct Case {
  std::string dir, benchmark;
  double tolerance = 1e-5;
  int64_t arena = 0, kernels = 0, steps = 0, sample_stride = 1;
  bool training = false, generated_feeds = false;
  std::vector<Argument> inputs, variables, outputs;
  std::string data;
  // Which elements of result `a` are stored and compared: every Stride(a)-th, Sampled(a) of them.
  int64_t Stride(const Argument& a) const { return kiln::GpuCaseStride(a.count, sample_stride); }
  int64_t Sampled(const Argument& a) const { return (a.count + Stride(a) - 1) / Stride(a); }
};

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream s;
  s << f.rdbuf();
  *out = s.str();
  return true;
}

std::string LoadCase(const std::string& dir, Case* c) {
  std::string manifest;
  if (!ReadFile(dir + "/manifest.txt", &manifest)) return "no manifest.txt";
  if (!ReadFile(dir + "/data.bin", &c->data)) return "no data.bin";
  c->dir = dir;
  std::istringstream in(manifest);
  std::string word;
  in >> word;
  if (word != "kiln-gpu-case") return "not a case manifest";
  in >> word;
  while (in >> word) {
    if (word == "tolerance")
      in >> c->tolerance;
    else if (word == "arena")
      in >> c->arena;
    else if (word == "kernels")
      in >> c->kernels;
    else if (word == "training")
      in >> c->training;
    else if (word == "steps")
      in >> c->steps;
    else if (word == "benchmark")
      in >> c->benchmark;
    else if (word == "generated_feeds")
      in >> c->generated_feeds;
    else if (word == "sample_stride")
      in >> c->sample_stride;
    else if (word == "input" || word == "variable" || word == "output") {
      Argument a;
      a.kind = word;
      in >> a.dtype >> a.element_bytes >> a.count;
      std::getline(in, a.name);
      (word == "input" ? c->inputs : word == "variable" ? c->variables : c->outputs).push_back(a);
    } else {
      return "unknown manifest entry '" + word + "'";
    }
  }
  if (!in.eof() || c->sample_stride < 1) return "malformed manifest";
  int64_t expected = 0;
  for (const Argument& v : c->variables) expected += v.bytes();
  if (c->generated_feeds) {
    // Generated here exactly as the writer generated them, then stored like recorded feeds.
    std::string feeds;
    for (size_t k = 0; k < c->inputs.size(); ++k) {
      if (c->inputs[k].dtype != "f32") return "generated feeds must be f32";
      for (int64_t i = 0; i < c->inputs[k].count; ++i) {
        const float v = kiln::GpuCaseValue(static_cast<int>(k), i);
        feeds.append(reinterpret_cast<const char*>(&v), 4);
      }
    }
    c->data.insert(expected, feeds);
  }
  for (const Argument& a : c->inputs) expected += a.bytes();
  for (int64_t s = 0; s < c->steps; ++s) {
    for (const Argument& o : c->outputs) expected += c->Sampled(o) * o.element_bytes;
  }
  if (c->training) {
    for (const Argument& v : c->variables) expected += c->Sampled(v) * v.element_bytes;
  }
  if (expected != static_cast<int64_t>(c->data.size())) return "data.bin has the wrong size";
  return "";
}

double Element(const Argument& a, const char* p) {
  if (a.dtype == "f32") {
    float f;
    std::memcpy(&f, p, 4);
    return f;
  }
  if (a.dtype == "f64") {
    double d;
    std::memcpy(&d, p, 8);
    return d;
  }
  if (a.dtype == "i32") {
    int32_t x;
    std::memcpy(&x, p, 4);
    return x;
  }
  if (a.dtype == "i64") {
    int64_t x;
    std::memcpy(&x, p, 8);
    return static_cast<double>(x);
  }
  if (a.dtype == "bool") return static_cast<unsigned char>(*p) & 1;
  return static_cast<signed char>(*p);
}

// "" when every `stride`-th element of `device` (as copied back) is within tolerance of the next
// one of `expected` (stored in the same dtype).
std::string Compare(const Argument& a, const std::vector<char>& device, const char* expected,
                    int64_t stride, double tolerance) {
  for (int64_t j = 0; j * stride < a.count; ++j) {
    const double r = Element(a, expected + j * a.element_bytes);
    const double g = Element(a, device.data() + j * stride * a.element_bytes);
    const bool both_nan = std::isnan(g) && std::isnan(r);
    if (!both_nan && !(std::fabs(g - r) <= tolerance * std::max(1.0, std::fabs(r)))) {
      std::ostringstream s;
      s.precision(9);
      s << a.kind << " '" << a.name.substr(a.name.find_first_not_of(' ')) << "' element "
        << j * stride << ": GPU " << g << ", interpreter " << r << " (of " << a.count << ")";
      return s.str();
    }
  }
  return "";
}

std::string TakeStatus(kiln_context* context) {
  if (kiln_context_status(context) == KILN_OK) return "";
  std::string m = kiln_context_message(context);
  kiln_context_clear_status(context);
  return m.empty() ? "error" : m;
}

// One loaded case on the GPU: its device buffers and functions.
class Loaded {
 public:
  Loaded(kiln_context* cuda, const Case& c) : cuda_(cuda), case_(c) {}
  ~Loaded() {
    if (graph_ != nullptr) kiln_cuda_graph_destroy(cuda_, graph_);
    for (uint64_t b : buffers_) kiln_cuda_free(cuda_, b);
    kiln_cuda_free(cuda_, arena_);
    if (library_ != nullptr) dlclose(library_);
  }

  std::string Load() {
    library_ = dlopen((case_.dir + "/case.so").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (library_ == nullptr) return std::string("dlopen: ") + dlerror();
    run_ = reinterpret_cast<void (*)(void**)>(dlsym(library_, "kiln_case_run_packed"));
    auto prepare = reinterpret_cast<void (*)(kiln_context*)>(dlsym(library_, "kiln_case_prepare"));
    if (run_ == nullptr || prepare == nullptr)
      return "case.so lacks kiln_case_run_packed or kiln_case_prepare";
    for (const auto* group : {&case_.inputs, &case_.variables, &case_.outputs}) {
      for (const Argument& a : *group)
        buffers_.push_back(kiln_cuda_alloc(cuda_, std::max<int64_t>(1, a.bytes())));
    }
    arena_ = kiln_cuda_alloc(cuda_, std::max<int64_t>(1, case_.arena));
    prepare(cuda_);
    for (uint64_t b : buffers_) args_.push_back(reinterpret_cast<void*>(b));
    args_.push_back(cuda_);
    args_.push_back(reinterpret_cast<void*>(arena_));
    return TakeStatus(cuda_);
  }

  // Variables to their initial values, the arena to zeros.
  void Reset() {
    const char* p = case_.data.data();
    for (size_t i = 0; i < case_.variables.size(); ++i) {
      const Argument& v = case_.variables[i];
      if (v.bytes() > 0)
        kiln_cuda_copy_to_device(cuda_, buffers_[case_.inputs.size() + i], p, v.bytes());
      p += v.bytes();
    }
    const std::vector<char> zeros(std::max<int64_t>(1, case_.arena), 0);
    kiln_cuda_copy_to_device(cuda_, arena_, zeros.data(), zeros.size());
  }

  void Feed(const char* p) {
    for (size_t i = 0; i < case_.inputs.size(); ++i) {
      if (case_.inputs[i].bytes() > 0)
        kiln_cuda_copy_to_device(cuda_, buffers_[i], p, case_.inputs[i].bytes());
      p += case_.inputs[i].bytes();
    }
  }

  void Run() { run_(args_.data()); }

  std::string Capture() {
    kiln_cuda_capture_begin(cuda_);
    Run();
    graph_ = kiln_cuda_capture_end(cuda_);
    return TakeStatus(cuda_);
  }
  void Replay() { kiln_cuda_graph_launch(cuda_, graph_); }

  // Runs every step (replaying the graph with `graph`) and compares; "" when all match.
  std::string Check(bool graph) {
    Reset();
    const char* p = case_.data.data();
    for (const Argument& v : case_.variables) p += v.bytes();
    Feed(p);
    for (const Argument& a : case_.inputs) p += a.bytes();
    for (int64_t step = 0; step < case_.steps; ++step) {
      graph ? Replay() : Run();
      const std::string where = "step " + std::to_string(step) + ": ";
      size_t b = case_.inputs.size() + case_.variables.size();
      for (const Argument& o : case_.outputs) {
        if (std::string e = CopyAndCompare(o, buffers_[b++], p); !e.empty()) return where + e;
        p += case_.Sampled(o) * o.element_bytes;
      }
    }
    if (!case_.training) return "";
    for (size_t i = 0; i < case_.variables.size(); ++i) {
      const Argument& v = case_.variables[i];
      if (std::string e = CopyAndCompare(v, buffers_[case_.inputs.size() + i], p); !e.empty()) {
        return "after the last step: " + e;
      }
      p += case_.Sampled(v) * v.element_bytes;
    }
    return "";
  }

  std::string CopyAndCompare(const Argument& a, uint64_t buffer, const char* expected) {
    std::vector<char> value(a.bytes());
    if (a.bytes() > 0) kiln_cuda_copy_to_host(cuda_, value.data(), buffer, a.bytes());
    kiln_cuda_synchronize(cuda_);
    if (std::string e = TakeStatus(cuda_); !e.empty()) return e;
    return Compare(a, value, expected, case_.Stride(a), case_.tolerance);
  }

  // Median microseconds per call of `call`, synchronizing after each batch of calls.
  template <typename F>
  double Time(F call) {
    using Clock = std::chrono::steady_clock;
    auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
    for (int i = 0; i < 20; ++i) call();
    kiln_cuda_synchronize(cuda_);
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < 20; ++i) call();
    kiln_cuda_synchronize(cuda_);
    const double estimate = seconds(Clock::now() - start) / 20;
    const int batch = std::max(1, static_cast<int>(2e-3 / std::max(estimate, 1e-7)));
    std::vector<double> samples;
    const Clock::time_point begin = Clock::now();
    while (samples.size() < 15 || (seconds(Clock::now() - begin) < 0.5 && samples.size() < 1000)) {
      const Clock::time_point t = Clock::now();
      for (int i = 0; i < batch; ++i) call();
      kiln_cuda_synchronize(cuda_);
      samples.push_back(seconds(Clock::now() - t) / batch);
    }
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2] * 1e6;
  }

 private:
  kiln_context* cuda_;
  const Case& case_;
  void* library_ = nullptr;
  void (*run_)(void**) = nullptr;
  std::vector<uint64_t> buffers_;  // inputs, variables, outputs
  uint64_t arena_ = 0;
  std::vector<void*> args_;
  kiln_cuda_graph* graph_ = nullptr;
};

}  // namespace

int main(int argc, char** argv) {
  std::string driver, bench_json, filter, after, root;
  int64_t case_timeout = 30;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--case-timeout" && i + 1 < argc) {
      case_timeout = std::max<int64_t>(1, std::atoll(argv[++i]));
    } else if ((a == "--driver" || a == "--bench-json" || a == "--filter" || a == "--after") &&
               i + 1 < argc) {
      (a == "--driver"       ? driver
       : a == "--bench-json" ? bench_json
       : a == "--filter"     ? filter
                             : after) = argv[++i];
    } else if (!a.empty() && a[0] != '-' && root.empty()) {
      root = a;
    } else {
      root.clear();
      break;
    }
  }
  if (root.empty()) {
    std::fprintf(stderr,
                 "usage: %s [--driver PATH] [--bench-json FILE] [--filter TEXT] [--after NAME] "
                 "[--case-timeout S] "
                 "CASES_DIR\n",
                 argv[0]);
    return 2;
  }
  std::vector<std::string> dirs;
  if (DIR* d = opendir(root.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name[0] != '.' && name.find(filter) != std::string::npos &&
          (after.empty() || name > after)) {
        dirs.push_back(root + "/" + name);
      }
    }
    closedir(d);
  } else {
    std::fprintf(stderr, "gpu_case_runner: cannot read %s\n", root.c_str());
    return 2;
  }
  std::sort(dirs.begin(), dirs.end());
  kiln_context* cuda = driver.empty()
                           ? kiln_cuda_context_create(0)  // $KILN_CUDA_DRIVER or libcuda.so.1
                           : kiln_cuda_context_create_with_driver(driver.c_str(), 0);
  if (std::string e = TakeStatus(cuda); !e.empty()) {
    std::fprintf(stderr, "gpu_case_runner: %s\n", e.c_str());
    return 1;
  }
  int passed = 0, failed = 0, rc = 0;
  std::map<std::string, std::pair<double, double>> timings;  // benchmark -> (stream, graph) us
  // The watchdog: a case without a result after case_timeout seconds ends the process (see the
  // top).
  std::vector<std::string> names;
  for (const std::string& dir : dirs) names.push_back(dir.substr(dir.find_last_of('/') + 1));
  auto now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  std::atomic<int64_t> case_started{0};  // steady-clock seconds, 0 between cases
  std::atomic<size_t> current{0};        // index into names
  std::thread([&] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      const size_t i = current.load();
      const int64_t started = case_started.load();
      if (started != 0 && now() - started > case_timeout) {
        std::printf(
            "FAIL %s: no result after %lld s (a kernel that does not end?)\nRESTART after %s: "
            "timed out\n",
            names[i].c_str(), static_cast<long long>(case_timeout), names[i].c_str());
        std::fflush(stdout);
        std::_Exit(3);
      }
    }
  }).detach();
  for (size_t i = 0; i < dirs.size(); ++i) {
    const std::string& dir = dirs[i];
    const std::string& name = names[i];
    current = i;
    case_started = now();
    Case c;
    std::string error = LoadCase(dir, &c);
    if (error.empty()) {
      Loaded loaded(cuda, c);
      error = loaded.Load();
      if (error.empty()) error = loaded.Check(/*graph=*/false);
      if (error.empty()) {
        // Captured once (the stream run loaded the modules), then every step replayed from the
        // graph.
        error = loaded.Capture();
        if (error.empty()) {
          error = loaded.Check(/*graph=*/true);
          if (!error.empty()) error = "CUDA graph: " + error;
        } else {
          error = "capture: " + error;
        }
      }
      if (error.empty() && !c.benchmark.empty()) {
        const double stream = loaded.Time([&] { loaded.Run(); });
        const double graph = loaded.Time([&] { loaded.Replay(); });
        error = TakeStatus(cuda);
        timings[c.benchmark] = {stream, graph};
        std::printf("BENCH %s: %.2f us per call (stream), %.2f us (CUDA graph), %lld kernels\n",
                    c.benchmark.c_str(), stream, graph, static_cast<long long>(c.kernels));
      }
    }
    if (error.empty()) {
      ++passed;
      std::printf("PASS %s\n", name.c_str());
    } else {
      ++failed;
      std::printf("FAIL %s: %s\n", name.c_str(), error.c_str());
      case_started = 0;
      // Is the context still usable? After a fault every call fails the same way.
      kiln_cuda_free(cuda, kiln_cuda_alloc(cuda, 16));
      kiln_cuda_synchronize(cuda);
      if (std::string e = TakeStatus(cuda); !e.empty()) {
        std::printf("RESTART after %s: the GPU context is unusable (%s)\n", name.c_str(),
                    e.c_str());
        rc = 3;
        break;
      }
    }
    case_started = 0;
    std::fflush(stdout);
  }
  if (!bench_json.empty()) {
    std::ofstream out(bench_json);
    out << "{\"results\": {";
    const char* sep = "";
    for (const auto& [name, t] : timings) {
      out << sep << "\"" << name << "\": {\"kiln_us\": " << t.first
          << ", \"kiln_graph_us\": " << t.second << "}";
      sep = ", ";
    }
    out << "}}\n";
  }
  kiln_context_destroy(cuda);
  std::printf("%d passed, %d failed\n", passed, failed);
  return rc != 0 ? rc : failed == 0 && passed > 0 ? 0 : 1;
}
