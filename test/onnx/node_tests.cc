// ONNX's own conformance suite: the node tests that ship in the onnx==1.22.0 wheel (each a folder
// of model.onnx and test_data_set_*/{input,output}_*.pb). Each is imported, run on the
// interpreter and compared with its expected outputs at the suite's tolerances (rtol 1e-3, atol
// 1e-7), in a child process of its own, so that a crash or a hang is that test's result. Writes
// the table docs/onnx.md holds: every test as pass, unsupported (with the reason) or FAIL.
//
// Usage: node_tests NODE_DIR OUT.md
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "graph/interpreter.h"
#include "import/onnx_import.h"

namespace {

namespace fs = std::filesystem;

constexpr int kSecondsPerTest = 30;

// One line of reason: the model's path dropped, at most 160 characters.
std::string Reason(std::string message, const std::string& dir) {
  message = absl::StrReplaceAll(message, {{dir + "/", ""}, {"\n", " "}, {"|", "/"}});
  if (message.size() > 160) message = message.substr(0, 157) + "...";
  return message;
}

// "pass", "unsupported: why" or "FAIL: why" for the test in `dir`.
std::string RunOne(const std::string& dir) {
  kiln::OnnxImportOptions options;
  options.batch = 1;
  absl::StatusOr<std::unique_ptr<kiln::Graph>> graph =
      kiln::ImportOnnx(dir + "/model.onnx", options);
  if (!graph.ok()) return "unsupported: " + Reason(std::string(graph.status().message()), dir);
  const kiln::Graph& g = **graph;
  std::vector<const kiln::Node*> placeholders;
  for (const kiln::Node& n : g.nodes()) {
    if (n.op_name() == "Placeholder") placeholders.push_back(&n);
  }
  absl::StatusOr<kiln::Interpreter> interpreter = kiln::Interpreter::Create(g);
  if (!interpreter.ok()) return "FAIL: " + Reason(std::string(interpreter.status().message()), dir);
  std::vector<kiln::Tensor> fetches;
  for (const auto& [name, ref] : g.outputs())
    fetches.push_back(kiln::Tensor(const_cast<kiln::Graph*>(&g), ref));
  int sets = 0;
  for (int set = 0;; ++set) {
    const std::string data = absl::StrCat(dir, "/test_data_set_", set);
    if (!fs::is_directory(data)) break;
    ++sets;
    kiln::Feeds feeds;
    for (size_t i = 0; i < placeholders.size(); ++i) {
      absl::StatusOr<kiln::TensorData> input =
          kiln::ReadOnnxTensor(absl::StrCat(data, "/input_", i, ".pb"));
      if (!input.ok()) return "unsupported: " + Reason(std::string(input.status().message()), dir);
      if (!(input->type() == placeholders[i]->outputs[0]))
        return absl::StrCat("FAIL: input ", i, " has another type than the model's");
      feeds[placeholders[i]->name] = input->ToLiteral();
    }
    absl::StatusOr<std::vector<kiln::Literal>> out = interpreter->Run(feeds, fetches);
    if (!out.ok()) return "FAIL: " + Reason(std::string(out.status().message()), dir);
    for (size_t o = 0; o < out->size(); ++o) {
      absl::StatusOr<kiln::TensorData> want =
          kiln::ReadOnnxTensor(absl::StrCat(data, "/output_", o, ".pb"));
      if (!want.ok()) return "unsupported: " + Reason(std::string(want.status().message()), dir);
      const kiln::Literal& got = (*out)[o];
      if (got.dtype != want->dtype() || got.shape.dims() != want->shape().dims()) {
        return absl::StrCat("FAIL: output ", o, " is ", kiln::DTypeName(got.dtype),
                            got.shape.ToString(), ", expected ", kiln::DTypeName(want->dtype()),
                            want->shape().ToString());
      }
      for (int64_t e = 0; e < want->size(); ++e) {
        const double w = want->at(e), v = got.values[e];
        const bool same = (std::isnan(w) && std::isnan(v)) || w == v ||
                          std::fabs(v - w) <= 1e-7 + 1e-3 * std::fabs(w);
        if (!same)
          return absl::StrCat("FAIL: output ", o, " element ", e, " is ", v, ", expected ", w);
      }
    }
  }
  return sets > 0 ? "pass" : "unsupported: no test data";
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
               ? absl::StrCat("FAIL: timed out (", kSecondsPerTest, " s)")
               : absl::StrCat("FAIL: crashed (signal ", WTERMSIG(status), ")");
  }
  return result.empty() ? "FAIL: no result" : result;
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
  std::map<std::string, int> counts;
  std::string rows;
  for (const std::string& t : tests) {
    const std::string result = Isolated(std::string(argv[1]) + "/" + t);
    ++counts[result.substr(0, result.find(':'))];
    rows += "| " + t + " | " + result + " |\n";
  }
  std::ofstream out(argv[2]);
  out << "Of the " << tests.size()
      << " node tests of onnx 1.22.0, on the interpreter: " << counts["pass"] << " pass, "
      << counts["unsupported"] << " unsupported, " << counts["FAIL"]
      << " fail.\n\n| test | interpreter |\n| --- | --- |\n"
      << rows;
  std::printf("%zu tests: %d pass, %d unsupported, %d fail\n", tests.size(), counts["pass"],
              counts["unsupported"], counts["FAIL"]);
  return out ? 0 : 1;
}
