// A graph with a 200 MB constant (50M f32 elements) saves, loads and compiles, and no stage widens
// the constant to 8 bytes per element: each stage's peak memory growth is measured (Linux's VmHWM,
// reset between stages) and bounded.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "catch2/catch.hpp"
#include "codegen/compiler.h"
#include "graph/graph.h"
#include "graph/ops.h"
#include "graph/random.h"
#include "proto/graph_def.h"
#include "testing/status_matchers.h"
#include "testing/temp_files.h"

namespace kiln {
namespace {

constexpr int64_t kElements = 50'000'000;
constexpr int64_t kBytes = kElements * 4;

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), or -1.
int64_t StatusBytes(const std::string& key) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  }
  return -1;
}

// One stage's wall time and peak resident memory above what was resident when it began.
class Stage {
 public:
  explicit Stage(const char* name) : name_(name) {
    // Resets VmHWM to the current RSS (Linux >= 4.0); without it the growth is not measured.
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
    clear.flush();
    measured_ = clear.good();
    start_rss_ = StatusBytes("VmRSS");
    start_ = std::chrono::steady_clock::now();
  }

  // Prints the stage and returns its peak growth in bytes (-1 when unmeasured).
  int64_t End() {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const int64_t growth = measured_ ? StatusBytes("VmHWM") - start_rss_ : -1;
    std::printf("%-8s %6.2f s, peak +%7.1f MB over %7.1f MB resident (%.2f bytes per element)\n",
                name_, seconds, growth / 1e6, start_rss_ / 1e6,
                static_cast<double>(growth) / kElements);
    if (!measured_) std::printf("SKIPPED: peak memory of '%s' (no /proc/self/clear_refs)\n", name_);
    return growth;
  }

 private:
  const char* name_;
  bool measured_ = false;
  int64_t start_rss_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// Integers below 2^24 (exact in f32), different enough that nothing can compress them.
double WeightAt(int64_t i) { return static_cast<double>(RandomBits(1, 0, i) >> 40); }

TEST_CASE("A graph with a 200 MB constant saves, loads and compiles") {
  std::printf("%lld f32 elements (%.0f MB)\n", static_cast<long long>(kElements), kBytes / 1e6);
  Graph g;
  Stage build("build");
  const TensorData weight = TensorData::FromFunction(DType::kF32, {kElements}, WeightAt);
  Tensor x = ops::Placeholder(g, "x", DType::kF32, {kElements});
  Tensor w = ops::Const(g, weight, "w");
  g.AddOutput("y", ops::ReduceSum(x * w));
  REQUIRE_THAT(g.status(), IsOk());
  REQUIRE(weight.bytes().size() == kBytes);
  REQUIRE(g.FindNode("w")->attr<TensorData>("value").SharesBytesWith(weight));
  int64_t build_growth = build.End();

  const std::string path = testing::TempPath("large.kiln");
  Stage save("save");
  REQUIRE_THAT(SaveGraph(g, path), IsOk());
  // The message's copy of the bytes (4 per element), and no serialized copy beside it.
  const int64_t save_growth = save.End();
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  REQUIRE(st.st_size > kBytes);
  REQUIRE(st.st_size < kBytes + 1000);

  Stage load("load");
  auto loaded = LoadGraph(path);
  REQUIRE_THAT(loaded.status(), IsOk());
  // The graph's bytes, moved from the parsed message (which grows its string while reading).
  const int64_t load_growth = load.End();
  unlink(path.c_str());
  const TensorData& back = (*loaded)->FindNode("w")->attr<TensorData>("value");
  REQUIRE(back.type() == weight.type());
  REQUIRE(std::memcmp(back.bytes().data(), weight.bytes().data(), kBytes) == 0);

  Stage compile("compile");
  CompileOptions options;
  options.name = "large";
  absl::StatusOr<CompiledGraph> compiled = CompileGraph(**loaded, options);
  REQUIRE_THAT(compiled.status(), IsOk());
  const int64_t compile_growth = compile.End();
  // The object holds the constant's bytes as they are.
  const std::string& object = compiled->object;
  REQUIRE(object.size() > static_cast<size_t>(kBytes));
  const void* start = memmem(object.data(), object.size(), weight.bytes().data(), 4096);
  REQUIRE(start != nullptr);
  const size_t offset = static_cast<const char*>(start) - object.data();
  REQUIRE(object.size() - offset >= static_cast<size_t>(kBytes));
  REQUIRE(std::memcmp(object.data() + offset, weight.bytes().data(), kBytes) == 0);

  // Bounds with room for allocator slack, each below what one 8-byte-per-element copy would add.
  // Compiling holds about four copies, all at 4 bytes per element: the MLIR attribute, the LLVM
  // constant, the emitted object and the returned string (codegen/, measured 840 MB).
  // (Not under AddressSanitizer, whose redzones and quarantine add their own growth.)
#ifdef __SANITIZE_ADDRESS__
  std::fprintf(stderr, "SKIPPED: the memory bounds of large_graph_test under AddressSanitizer\n");
  build_growth = -1;
#endif
  if (build_growth >= 0) {
    CHECK(build_growth < kBytes * 5 / 4);
    CHECK(save_growth < kBytes * 3 / 2);
    CHECK(load_growth < kBytes * 3 / 2);
    CHECK(compile_growth < kBytes * 5);
  }
}

}  // namespace
}  // namespace kiln
