// Runs an imported ONNX model (a Kiln graph file) on the interpreter, and its bundle (compiled by
// kilnc) on the runtime, on inputs.bin, and compares both with ONNX Runtime's outputs.
//
// Usage: onnx_check GRAPH.pb BUNDLE.kiln INPUTS_BIN EXPECTED_BIN (the model's one input as raw
// little-endian elements; its first output as f32)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "graph/interpreter.h"
#include "proto/graph_def.h"
#include "runtime/bundle.h"
#include "runtime/dnnl_kernels.h"

namespace {

std::vector<float> Floats(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> f(bytes.size() / sizeof(float));
  std::memcpy(f.data(), bytes.data(), bytes.size());
  return f;
}

// The worst error of `got` against `want`, relative where |want| > 1.
double Worst(const std::vector<double>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst =
        std::max(worst, std::fabs(got[i] - want[i]) / std::max(1.0, std::fabs(double(want[i]))));
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) return 2;
  const std::vector<float> expected = Floats(argv[4]);
  std::ifstream in(argv[3], std::ios::binary);
  const std::string input_bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  auto graph = kiln::LoadGraph(argv[1]);
  if (!graph.ok()) {
    std::printf("FAILED: %s\n", graph.status().ToString().c_str());
    return 1;
  }
  const kiln::Graph& g = **graph;
  auto interpreter = kiln::Interpreter::Create(g);
  const kiln::Node* x = nullptr;  // the model's one input, of any dtype (raw bytes in INPUTS_BIN)
  for (const kiln::Node& n : g.nodes()) {
    if (n.op_name() == "Placeholder" && x == nullptr) x = &n;
  }
  auto data = kiln::TensorData::FromBytes(x->outputs[0].dtype, x->outputs[0].shape, input_bytes);
  if (!data.ok()) {
    std::printf("FAILED: %s\n", data.status().ToString().c_str());
    return 1;
  }
  const kiln::Literal input = data->ToLiteral();
  std::vector<kiln::Tensor> fetches = {
      kiln::Tensor(const_cast<kiln::Graph*>(&g), g.outputs()[0].second)};
  auto out = interpreter.ok() ? interpreter->Run({{x->name, input}}, fetches)
                              : absl::StatusOr<std::vector<kiln::Literal>>(interpreter.status());
  if (!out.ok()) {
    std::printf("FAILED: interpreter: %s\n", out.status().ToString().c_str());
    return 1;
  }
  const double interpreted = Worst((*out)[0].values, expected);
  // The bundle, compiled by kilnc, on the runtime.
  auto bundle = kiln::rt::Bundle::Open(argv[2], kiln_dnnl_symbols);
  if (!bundle.ok()) {
    std::printf("FAILED: %s\n", bundle.status().ToString().c_str());
    return 1;
  }
  std::vector<float> result(expected.size(), NAN);
  kiln::rt::Context context(kiln_dnnl_context_create(1));
  kiln::rt::Status s = (*bundle)->Run(0, {input_bytes.data()}, {result.data()}, context);
  const double compiled =
      s.ok() ? Worst(std::vector<double>(result.begin(), result.end()), expected) : INFINITY;
  const bool ok = interpreted <= 1e-4 && compiled <= 1e-4;
  std::printf("%s: %s: interpreter %.2g, compiled %.2g from ONNX Runtime's (%zu values)%s\n",
              ok ? "ok" : "FAILED", argv[1], interpreted, compiled, expected.size(),
              s.ok() ? "" : (" " + s.ToString()).c_str());
  return ok ? 0 : 1;
}
