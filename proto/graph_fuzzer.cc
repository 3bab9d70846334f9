// libFuzzer target: arbitrary bytes through the graph loader, as binary and as text format.
//
// Besides "no crash, no sanitizer report, no leak", it checks one property on every input that
// loads: saving the loaded graph and loading that again gives the same file, byte for byte (the
// loader and the writer agree, and loading is idempotent). Built and run by
// proto/fuzz/build_and_run.sh; see docs/fuzzing.md.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "google/protobuf/stubs/logging.h"
#include "proto/graph_def.h"

namespace {

[[noreturn]] void Die(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "graph_fuzzer: %s: %s\n", what, status.ToString().c_str());
  std::abort();
}

void CheckRoundTrip(const kiln::proto::GraphDef& def) {
  absl::StatusOr<std::unique_ptr<kiln::Graph>> graph = kiln::FromGraphDef(def);
  if (!graph.ok()) {
    if (graph.status().message().empty()) Die("error without a message", graph.status());
    return;
  }
  absl::StatusOr<std::string> saved = kiln::SerializeGraph(**graph, /*text=*/false);
  if (!saved.ok()) Die("a loaded graph does not save", saved.status());
  absl::StatusOr<kiln::proto::GraphDef> reparsed = kiln::ParseGraph(*saved);
  if (!reparsed.ok()) Die("a saved graph does not parse", reparsed.status());
  absl::StatusOr<std::unique_ptr<kiln::Graph>> reloaded = kiln::FromGraphDef(*reparsed);
  if (!reloaded.ok()) Die("a saved graph does not load", reloaded.status());
  absl::StatusOr<std::string> resaved = kiln::SerializeGraph(**reloaded, /*text=*/false);
  if (!resaved.ok()) Die("a reloaded graph does not save", resaved.status());
  if (*resaved != *saved) Die("save(load(save(g))) != save(g)", absl::OkStatus());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Protobuf logs invalid UTF-8 in string fields; the parse failure is what matters.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (absl::StatusOr<kiln::proto::GraphDef> def = kiln::ParseGraph(input); def.ok())
    CheckRoundTrip(*def);
  if (absl::StatusOr<kiln::proto::GraphDef> def = kiln::ParseGraphText(input); def.ok()) {
    CheckRoundTrip(*def);
  }
  return 0;
}
