// Writes the GPU benchmark workloads (bench/build_workloads.cc: W1 b128, W2, W3, W4a) as GPU cases
// (testing/jit_runner.h) for test/gpu/gpu_case_runner, which checks each against the interpreter
// and times it. Feeds are random: images in [0, 1) as bench/peers.py draws them, labels in [0, 10),
// learning rate 0.01; W4a's x, a and b uniform in [-2, 2) (GpuCaseValue; peers.py draws N(0, 1)).
// Usage: write_bench_cases GRAPHS_DIR CASES_DIR   (GRAPHS_DIR: the workloads' .pb files)
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "proto/graph_def.h"
#include "testing/jit_runner.h"

namespace kiln {
namespace {

absl::Status Write(const std::string& graphs, const std::string& cases, const std::string& workload,
                   const std::string& benchmark, double tolerance) {
  KILN_ASSIGN_OR_RETURN(const std::unique_ptr<Graph> graph,
                        LoadGraph(graphs + "/" + workload + ".pb"));
  const Graph& g = *graph;
  GpuCase spec;
  spec.benchmark = benchmark;
  spec.tolerance = tolerance;
  spec.apply_updates = !g.training().updates.empty();
  for (const auto& [name, ref] : g.outputs())
    spec.outputs.push_back(Tensor(const_cast<Graph*>(&g), ref));
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> uniform(0, 1);
  std::uniform_int_distribution<int> label(0, 9);
  Feeds feeds;
  for (int id = 0; id < g.num_nodes(); ++id) {
    const Node& n = g.node(id);
    if (!n.op->is_fed()) continue;
    Literal l(n.outputs[0].dtype, n.outputs[0].shape);
    for (double& v : l.values) {
      v = n.name == "learning_rate"           ? 0.01
          : n.outputs[0].dtype == DType::kI32 ? label(rng)
                                              : uniform(rng);
    }
    feeds[n.name] = l;
  }
  spec.feeds = feeds;
  // Training: two steps, so the second runs on variables the first updated. W4a's 16 MiB input
  // and output would not fit the device tool's 64 MiB: its input is generated, its output sampled.
  spec.steps = spec.apply_updates ? 2 : 1;
  if (workload == "w4a") {
    spec.generated_feeds = true;
    spec.sample_stride = 61;
  }
  return WriteGpuCase(cases + "/bench_" + workload, g, spec);
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s GRAPHS_DIR CASES_DIR\n", argv[0]);
    return 2;
  }
  // Tolerances: the training steps sum thousands of products in another order than the interpreter.
  const struct {
    const char* workload;
    const char* benchmark;
    double tolerance;
  } kWorkloads[] = {
      {"w1b128", "W1b128", 1e-5}, {"w2", "W2", 1e-4}, {"w3", "W3", 1e-4}, {"w4a", "W4a", 1e-5}};
  for (const auto& w : kWorkloads) {
    const absl::Status s = kiln::Write(argv[1], argv[2], w.workload, w.benchmark, w.tolerance);
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", w.workload, s.ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "wrote %s\n", w.workload);
  }
  return 0;
}
