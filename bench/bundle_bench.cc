// Opening a bundle (mmap, every CRC, the ELF load) and running its signature; the bundle is the
// first argument (bench/BUILD writes the Fashion-MNIST MLP's, w1b1.kiln).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "runtime/dnnl_kernels.h"
#include "runtime/kiln_bundle.h"

namespace {

std::string path;

kiln_bundle* OpenOrDie() {
  kiln_bundle_options options = kiln_bundle_default_options();
  options.symbols = kiln_dnnl_symbols(&options.num_symbols);
  kiln_bundle* bundle = nullptr;
  char message[512];
  if (kiln_bundle_open(path.c_str(), &options, &bundle, message, sizeof message) != KILN_OK) {
    std::fprintf(stderr, "%s\n", message);
    std::exit(1);
  }
  return bundle;
}

void BM_BundleOpen(benchmark::State& state) {
  for (auto _ : state) kiln_bundle_close(OpenOrDie());
}
BENCHMARK(BM_BundleOpen)->Unit(benchmark::kMicrosecond);

void BM_BundleRun(benchmark::State& state) {
  kiln_bundle* bundle = OpenOrDie();
  const kiln_model_info& info = *kiln_bundle_signature(bundle, 0);
  std::vector<std::vector<char>> buffers;
  std::vector<const void*> inputs;
  std::vector<void*> outputs;
  for (int i = 0; i < info.num_args; ++i) {
    if (info.args[i].role == KILN_ROLE_VARIABLE) continue;
    buffers.emplace_back(info.args[i].bytes);
    if (info.args[i].role == KILN_ROLE_INPUT) inputs.push_back(buffers.back().data());
    if (info.args[i].role == KILN_ROLE_OUTPUT) outputs.push_back(buffers.back().data());
  }
  kiln_context* context = kiln_dnnl_context_create(1);
  kiln_bundle_prepare(bundle, 0, context);
  for (auto _ : state) kiln_bundle_run(bundle, 0, inputs.data(), outputs.data(), context);
  kiln_context_destroy(context);
  kiln_bundle_close(bundle);
}
BENCHMARK(BM_BundleRun)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: bundle_bench BUNDLE [benchmark flags]\n");
    return 2;
  }
  path = argv[1];
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
