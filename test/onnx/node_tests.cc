// ONNX's own conformance suite: the node tests that ship in the onnx==1.22.0 wheel (each a folder
// of model.onnx and test_data_set_*/{input,output}_*.pb). Each is imported, run on the
// interpreter and compiled for this CPU (a bundle in memory, run by the runtime), and both are
// compared with its expected outputs at the suite's tolerances (rtol 1e-3, atol 1e-7), in a
// child process of its own, so that a crash or a hang is that test's result. Writes the table
// docs/onnx.md holds: every test as pass, unsupported (with the reason) or FAIL, both ways.
//
// Usage: node_tests NODE_DIR OUT.md
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "codegen/bundle.h"
#include "codegen/compiler.h"
#include "graph/interpreter.h"
#include "import/onnx_import.h"
#include "runtime/dnnl_kernels.h"
#include "runtime/kiln_bundle.h"
#include "runtime/kiln_runtime.h"

namespace {

namespace fs = std::filesystem;

constexpr int kSecondsPerTest = 30;

// One line of reason: the model's path dropped, at most 160 characters.
std::string Reason(std::string message, const std::string& dir) {
  message = absl::StrReplaceAll(message, {{dir + "/", ""}, {"\n", " "}, {"|", "/"}});
  if (message.size() > 160) message = message.substr(0, 157) + "...";
  return message;
}

// Both columns' result when the test cannot run at all.
std::string Unsupported(const absl::Status& status, const std::string& dir) {
  const std::string why = "unsupported: " + Reason(std::string(status.message()), dir);
  return why + " | " + why;
}

// One test data set: the inputs, in the model's input order, and the expected outputs.
struct DataSet {
  std::vector<kiln::TensorData> inputs, outputs;
};

// "" when `got` (of `dtype` and `shape`) matches `want` at the suite's tolerances, else why not.
std::string Compare(int o, kiln::DType dtype, const kiln::Shape& shape,
                    const std::vector<double>& got, const kiln::TensorData& want) {
  if (dtype != want.dtype() || shape.dims() != want.shape().dims()) {
    return absl::StrCat("output ", o, " is ", kiln::DTypeName(dtype), shape.ToString(),
                        ", expected ", kiln::DTypeName(want.dtype()), want.shape().ToString());
  }
  for (int64_t e = 0; e < want.size(); ++e) {
    const double w = want.at(e), v = got[e];
    const bool same = (std::isnan(w) && std::isnan(v)) || w == v ||
                      std::fabs(v - w) <= 1e-7 + 1e-3 * std::fabs(w);
    if (!same) return absl::StrCat("output ", o, " element ", e, " is ", v, ", expected ", w);
  }
  return "";
}

// The graph compiled for this CPU into a bundle in memory, run on every data set: "pass" or why
// not.
std::string RunCompiled(const kiln::Graph& g, const kiln::Interpreter& interpreter,
                        const std::vector<const kiln::Node*>& placeholders,
                        const std::vector<DataSet>& sets, const std::string& dir) {
  kiln::CompileOptions options;
  options.name = "node_test";
  options.initializer = false;
  absl::StatusOr<kiln::CompiledGraph> compiled = kiln::CompileGraph(g, options);
  if (!compiled.ok()) return "FAIL: " + Reason(std::string(compiled.status().message()), dir);
  std::vector<kiln::BundleWeight> weights;
  std::vector<const kiln::ModelDescription::Argument*> inputs, outputs;
  for (const kiln::ModelDescription::Argument& a : compiled->arguments) {
    if (a.role == KILN_ROLE_INPUT) inputs.push_back(&a);
    if (a.role == KILN_ROLE_OUTPUT) outputs.push_back(&a);
    if (a.role != KILN_ROLE_VARIABLE) continue;
    const kiln::TensorData value(interpreter.variables().at(a.name));
    weights.push_back({a.name, kiln::RuntimeDType(a.type.dtype), a.type.shape.dims(),
                       std::string(value.bytes())});
  }
  absl::StatusOr<std::string> file = kiln::SerializeBundle(
      {{"serving_default", compiled->description, compiled->object}}, weights);
  if (!file.ok()) return "FAIL: " + Reason(std::string(file.status().message()), dir);
  void* memory = nullptr;
  if (posix_memalign(&memory, 64, file->size()) != 0) return "FAIL: no memory";
  std::memcpy(memory, file->data(), file->size());
  kiln_bundle_options bundle_options = kiln_bundle_default_options();
  bundle_options.symbols = kiln_dnnl_symbols(&bundle_options.num_symbols);
  kiln_bundle* bundle = nullptr;
  char message[512] = "";
  if (kiln_bundle_open_memory(memory, file->size(), &bundle_options, &bundle, message,
                              sizeof message) != KILN_OK) {
    return std::string("FAIL: ") + message;
  }
  std::string result = "pass";
  kiln_context* context = kiln_dnnl_context_create(1);
  for (const DataSet& set : sets) {
    std::vector<const void*> in;
    for (const kiln::ModelDescription::Argument* a : inputs) {
      for (size_t i = 0; i < placeholders.size(); ++i) {
        if (placeholders[i]->name == a->name) in.push_back(set.inputs[i].bytes().data());
      }
    }
    std::vector<std::string> out_bytes;
    std::vector<void*> out;
    for (const kiln::ModelDescription::Argument* a : outputs) {
      out_bytes.emplace_back(a->type.shape.NumElements() * kiln::DTypeSize(a->type.dtype), '\0');
    }
    for (std::string& b : out_bytes) out.push_back(b.data());
    if (in.size() != inputs.size() ||
        kiln_bundle_run(bundle, 0, in.data(), out.data(), context) != KILN_OK) {
      result = absl::StrCat("FAIL: ", kiln_context_message(context));
      break;
    }
    for (size_t o = 0; o < outputs.size() && result == "pass"; ++o) {
      absl::StatusOr<kiln::TensorData> got =
          kiln::TensorData::FromBytes(outputs[o]->type.dtype, outputs[o]->type.shape, out_bytes[o]);
      if (!got.ok()) {
        result = "FAIL: " + std::string(got.status().message());
        break;
      }
      std::vector<double> values;
      for (int64_t e = 0; e < got->size(); ++e) values.push_back(got->at(e));
      const std::string diff =
          Compare(static_cast<int>(o), got->dtype(), got->shape(), values, set.outputs[o]);
      if (!diff.empty()) result = "FAIL: " + diff;
    }
    if (result != "pass") break;
  }
  kiln_context_destroy(context);
  kiln_bundle_close(bundle);
  std::free(memory);
  return result;
}

// "pass", "unsupported: why" or "FAIL: why" for the test in `dir`, on the interpreter and
// compiled, as "INTERPRETER | COMPILED".
std::string RunOne(const std::string& dir) {
  const std::string model = dir + "/model.onnx";
  absl::StatusOr<std::vector<std::string>> names = kiln::OnnxGraphInputs(model);
  if (!names.ok()) {
    return Unsupported(names.status(), dir);
  }
  kiln::OnnxImportOptions options;
  options.batch = 1;
  // An input an op needs as a constant (a Reshape's shape, a reduction's axes) is bound to the
  // first data set's value (OnnxImportOptions::bind): the graph is specialized to it.
  absl::StatusOr<std::unique_ptr<kiln::Graph>> graph = kiln::ImportOnnx(model, options);
  for (int bound = 0; !graph.ok() && bound < 8; ++bound) {
    const std::string message(graph.status().message());
    const std::string mark = "graph input '";
    const size_t at = message.find(mark);
    if (at == std::string::npos || message.find("' can be bound", at) == std::string::npos) break;
    const size_t from = at + mark.size();
    const std::string name = message.substr(from, message.find('\'', from) - from);
    auto index = std::find(names->begin(), names->end(), name);
    if (index == names->end() || options.bind.count(name)) break;
    absl::StatusOr<kiln::TensorData> value = kiln::ReadOnnxTensor(
        absl::StrCat(dir, "/test_data_set_0/input_", index - names->begin(), ".pb"));
    if (!value.ok()) break;
    options.bind[name] = *std::move(value);
    graph = kiln::ImportOnnx(model, options);
  }
  if (!graph.ok()) {
    return Unsupported(graph.status(), dir);
  }
  const kiln::Graph& g = **graph;
  std::vector<const kiln::Node*> placeholders;
  for (const kiln::Node& n : g.nodes()) {
    if (n.op_name() == "Placeholder") placeholders.push_back(&n);
  }
  std::vector<DataSet> sets;
  for (int set = 0;; ++set) {
    const std::string data = absl::StrCat(dir, "/test_data_set_", set);
    if (!fs::is_directory(data)) break;
    DataSet d;
    for (size_t i = 0; i < names->size(); ++i) {
      absl::StatusOr<kiln::TensorData> t =
          kiln::ReadOnnxTensor(absl::StrCat(data, "/input_", i, ".pb"));
      if (!t.ok()) {
        return Unsupported(t.status(), dir);
      }
      auto bound = options.bind.find((*names)[i]);
      if (bound != options.bind.end()) {
        if (!(bound->second == *t)) {
          return Unsupported(absl::InvalidArgumentError("its data sets bind other values"), dir);
        }
        continue;
      }
      const size_t p = d.inputs.size();
      if (p >= placeholders.size() || !(t->type() == placeholders[p]->outputs[0]))
        return absl::StrCat("FAIL: input ", i, " has another type than the model's | -");
      d.inputs.push_back(*std::move(t));
    }
    for (size_t o = 0; o < g.outputs().size(); ++o) {
      absl::StatusOr<kiln::TensorData> t =
          kiln::ReadOnnxTensor(absl::StrCat(data, "/output_", o, ".pb"));
      if (!t.ok()) {
        return Unsupported(t.status(), dir);
      }
      d.outputs.push_back(*std::move(t));
    }
    sets.push_back(std::move(d));
  }
  if (sets.empty()) return Unsupported(absl::NotFoundError("no test data"), dir);
  absl::StatusOr<kiln::Interpreter> interpreter = kiln::Interpreter::Create(g);
  if (!interpreter.ok())
    return "FAIL: " + Reason(std::string(interpreter.status().message()), dir) + " | -";
  std::vector<kiln::Tensor> fetches;
  for (const auto& [name, ref] : g.outputs())
    fetches.push_back(kiln::Tensor(const_cast<kiln::Graph*>(&g), ref));
  for (const DataSet& set : sets) {
    kiln::Feeds feeds;
    for (size_t i = 0; i < placeholders.size(); ++i)
      feeds[placeholders[i]->name] = set.inputs[i].ToLiteral();
    absl::StatusOr<std::vector<kiln::Literal>> out = interpreter->Run(feeds, fetches);
    if (!out.ok()) return "FAIL: " + Reason(std::string(out.status().message()), dir) + " | -";
    for (size_t o = 0; o < out->size(); ++o) {
      const std::string diff = Compare(static_cast<int>(o), (*out)[o].dtype, (*out)[o].shape,
                                       (*out)[o].values, set.outputs[o]);
      if (!diff.empty()) return "FAIL: " + diff + " | -";
    }
  }
  return "pass | " + RunCompiled(g, *interpreter, placeholders, sets, dir);
}

// RunOne in a child process: a crash or a hang is the test's result, not the runner's end.
std::string Isolated(const std::string& dir) {
  int fds[2];
  if (pipe(fds) != 0) return "FAIL: no pipe";
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(kSecondsPerTest);
    const std::string result = RunOne(dir);
    ssize_t unused = write(fds[1], result.data(), result.size());
    (void)unused;
    _exit(0);
  }
  close(fds[1]);
  std::string result;
  char buffer[4096];
  for (ssize_t n; (n = read(fds[0], buffer, sizeof buffer)) > 0;) result.append(buffer, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    return WTERMSIG(status) == SIGALRM
               ? absl::StrCat("FAIL: timed out (", kSecondsPerTest, " s) | -")
               : absl::StrCat("FAIL: crashed (signal ", WTERMSIG(status), ") | -");
  }
  return result.empty() ? "FAIL: no result | -" : result;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: node_tests NODE_DIR OUT.md\n");
    return 2;
  }
  std::vector<std::string> tests;
  for (const fs::directory_entry& e : fs::directory_iterator(argv[1])) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx"))
      tests.push_back(e.path().filename().string());
  }
  std::sort(tests.begin(), tests.end());
  // Per column: pass, unsupported, FAIL; and both ways.
  std::map<std::string, int> interpreted, compiled;
  int both = 0;
  std::string rows;
  for (const std::string& t : tests) {
    std::string result = Isolated(std::string(argv[1]) + "/" + t);
    if (result.find(" | ") == std::string::npos) result += " | -";
    const std::string first = result.substr(0, result.find(" | "));
    const std::string second = result.substr(result.find(" | ") + 3);
    ++interpreted[first.substr(0, first.find(':'))];
    ++compiled[second.substr(0, second.find(':'))];
    both += first == "pass" && second == "pass";
    rows += "| " + t + " | " + result + " |\n";
  }
  const std::string summary =
      absl::StrCat("Of the ", tests.size(), " node tests of onnx 1.22.0, ", both,
                   " pass both ways; on the interpreter ", interpreted["pass"], " pass, ",
                   interpreted["unsupported"], " unsupported, ", interpreted["FAIL"],
                   " fail; compiled ", compiled["pass"], " pass, ", compiled["FAIL"], " fail.");
  std::ofstream out(argv[2]);
  out << summary << "\n\n| test | interpreter | compiled (x86_64) |\n| --- | --- | --- |\n" << rows;
  std::printf("%s\n", summary.c_str());
  return out ? 0 : 1;
}
