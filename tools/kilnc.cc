// kilnc: Kiln's command-line driver for graph files (proto/graph.proto).
//
//   kilnc inspect [--no-nodes] GRAPH     node table, op counts, parameters, FLOP estimate
//   kilnc inspect OBJECT.o               the model description a compiled object carries
//   kilnc dot [--rankdir=TB|LR] GRAPH    Graphviz source on stdout (`kilnc dot g.kiln | dot -Tsvg`)
//   kilnc convert IN OUT                 rewrites a graph file (binary, or text for *.pbtxt)
//   kilnc compile GRAPH --out DIR [--name N] [--target SPEC] [--cpu C] [--emit
//   obj,header,mlir,llvm,asm,ptx]
//                 [--gpu-precision f32|tf32|bf16]
//                 [--print-ir-after-all] [--no-library-calls]
//                                          object file + C++ header (codegen/compiler.h)
//   kilnc targets                        the named targets (target/target.h)
//
// Exit codes: 0 success, 1 a graph file could not be read, parsed, rebuilt, compiled or written,
// 2 bad usage (including a bad flag value: a name that is not a C identifier, an unknown target or
// CPU).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "codegen/bundle.h"
#include "codegen/compiler.h"
#include "codegen/model_description.h"
#include "graph/graph.h"
#include "graph/interpreter.h"
#include "graph/op_registry.h"
#include "graph/status_macros.h"
#include "import/onnx_import.h"
#include "proto/graph_def.h"
#include "runtime/checkpoint/checkpoint.h"
#include "runtime/kiln_bundle.h"
#include "runtime/kiln_model.h"
#include "tools/flops.h"

namespace kiln {
namespace {

constexpr int kOk = 0;
constexpr int kBadFile = 1;
constexpr int kUsage = 2;

constexpr char kUsageText[] =
    "usage: kilnc COMMAND [FLAGS] ARGS\n"
    "\n"
    "commands:\n"
    "  inspect [--no-nodes] GRAPH     print the nodes, op counts, parameter count and a FLOP "
    "estimate\n"
    "  inspect OBJECT.o|MODEL.kiln    print the model a compiled object or bundle describes "
    "(target, entry\n"
    "                                 points, arguments, arena, runtime hooks)\n"
    "  dot [--rankdir=TB|LR] GRAPH    print the graph as Graphviz source\n"
    "  import MODEL.onnx --out DIR    an ONNX model (opset 13+) as DIR/NAME.pb, weights "
    "included;\n"
    "      --name N, --batch N        (a symbolic batch dimension becomes N, default 1); "
    "compile\n"
    "                                 and inspect also take MODEL.onnx directly\n"
    "  convert IN OUT                 rewrite a graph file (text format when the name ends in "
    ".pbtxt)\n"
    "  compile GRAPH --out DIR        compile to DIR/NAME.o and DIR/NAME.h (DIR is created), "
    "flags:\n"
    "      --name N                   symbol/class base name (default: the file's stem)\n"
    "      --target SPEC              where the code runs (default x86_64: portable x86-64 with "
    "oneDNN;\n"
    "                                 `kilnc targets` lists them), with options: x86_64-native,\n"
    "                                 aarch64-linux, wasm32, cortex-m4, cuda:sm_90,precision=tf32, "
    "...\n"
    "      --cpu C                    the target's LLVM CPU ('native' for this machine; ,cpu=C)\n"
    "      --emit LIST                any of obj,header,mlir,llvm,asm,ptx (default obj,header),\n"
    "                                 or bundle: one NAME.kiln file with the code and weights\n"
    "      --weights CHECKPOINT       a bundle's weights (default: the variables' initial "
    "values)\n"
    "      --batch-sizes 1,8,32       a bundle's signatures: the graph at each batch size\n"
    "      --print-ir-after-all       print the MLIR after every pass to stderr\n"
    "      --no-library-calls         matmuls and convolutions as generated loops, not library "
    "calls\n"
    "                                 (,library=none)\n"
    "      --gpu-precision P          cuda: matmuls and convolutions in f32 (default, exact), tf32 "
    "or\n"
    "                                 bf16 (inputs rounded on the tensor cores; ,precision=P)\n"
    "  targets                        list the named targets\n"
    "  help                           print this message\n"
    "\n"
    "Graph files are binary kiln.proto.GraphDef, or text format when the name ends in .pbtxt.\n"
    "Exit status: 0 ok, 1 a graph or object file cannot be read, compiled or written, 2 bad usage\n"
    "(an unknown command or flag, a bad flag value: name, target, CPU, ...).\n";

int Usage(const std::string& message) {
  std::cerr << "kilnc: " << message << "\n" << kUsageText;
  return kUsage;
}

// "1,234,567"
std::string Grouped(int64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  const int start = digits[0] == '-' ? 1 : 0;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (static_cast<int>(i) > start && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string Types(const Node& node) {
  std::vector<std::string> types;
  for (const TensorType& t : node.outputs) types.push_back(t.ToString());
  return absl::StrJoin(types, ", ");
}

// A graph file, or an ONNX model (by its .onnx name; a symbolic batch dimension becomes `batch`).
std::unique_ptr<Graph> Load(const std::string& path, int* exit_code, int64_t batch = 1) {
  OnnxImportOptions onnx;
  onnx.batch = batch;
  absl::StatusOr<std::unique_ptr<Graph>> graph =
      absl::EndsWith(path, ".onnx") ? ImportOnnx(path, onnx) : LoadGraph(path);
  if (!graph.ok()) {
    std::cerr << "kilnc: " << graph.status().message() << "\n";
    *exit_code = kBadFile;
    return nullptr;
  }
  return *std::move(graph);
}

// Splits `args` into flags (--x, --x=v) and positional arguments; "--" ends the flags.
struct Args {
  std::map<std::string, std::string> flags;
  std::vector<std::string> positional;
};

// Parses args against the allowed flags (name -> takes a value); returns an error message or "".
std::string ParseArgs(const std::vector<std::string>& args,
                      const std::map<std::string, bool>& allowed, Args* out) {
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      out->positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(0, eq);
    auto it = allowed.find(name);
    if (it == allowed.end()) return absl::StrCat("unknown flag '", name, "'");
    if (it->second && eq == std::string::npos) {
      // "--flag VALUE" as well as "--flag=VALUE".
      if (i + 1 == args.size())
        return absl::StrCat("flag '", name, "' needs a value (", name, "=...)");
      out->flags[name] = args[++i];
      continue;
    }
    if (!it->second && eq != std::string::npos)
      return absl::StrCat("flag '", name, "' takes no value");
    out->flags[name] = eq == std::string::npos ? "" : arg.substr(eq + 1);
  }
  return "";
}

// Rows in aligned columns, after a blank line.
void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::cout << "\n";
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << "  " << line << "\n";
  }
}

// `kilnc inspect model.o`: the description a compiled object carries (runtime/kiln_model.h), read
// from its section without running anything.
void PrintDescription(const kiln_model_info& info, const std::string& path) {
  std::cout << "model " << info.name << " (" << (info.training ? "training step" : "inference")
            << ") in " << path << "\n  target " << info.target << ", ABI version "
            << info.abi_version << ", fingerprint " << info.fingerprint << "\n  entry points "
            << (*info.init_entry ? absl::StrCat(info.init_entry, ", ") : "") << info.prepare_entry
            << ", " << info.run_entry << "\n  arena "
            << Grouped(static_cast<int64_t>(info.arena_bytes)) << " bytes\n";
  std::vector<std::vector<std::string>> rows = {{"role", "name", "identifier", "type", "bytes"}};
  for (int i = 0; i < info.num_args; ++i) {
    const kiln_model_arg& a = info.args[i];
    std::vector<std::string> dims;
    for (int d = 0; d < a.rank; ++d) dims.push_back(std::to_string(a.dims[d]));
    rows.push_back({kiln_arg_role_name(a.role), a.name, a.identifier,
                    absl::StrCat(kiln_dtype_name(a.dtype), "[", absl::StrJoin(dims, ","), "]"),
                    Grouped(static_cast<int64_t>(a.bytes))});
  }
  PrintTable(rows);
  std::vector<std::string> hooks(info.hooks, info.hooks + info.num_hooks);
  std::cout << "  runtime hooks: " << (hooks.empty() ? "none" : absl::StrJoin(hooks, ", ")) << "\n";
}

int InspectObject(const std::string& path, const std::string& object) {
  absl::StatusOr<std::string> description = ReadModelDescription(object);
  kiln_model_info info;
  char message[256] = "";
  if (!description.ok() || kiln_model_info_parse(description->data(), description->size(), &info,
                                                 message, sizeof message) != KILN_OK) {
    std::cerr << "kilnc: " << path << ": "
              << (description.ok() ? message : description.status().message()) << "\n";
    return kBadFile;
  }
  PrintDescription(info, path);
  kiln_model_info_release(&info);
  return kOk;
}

// A bundle: checked and loaded as the runtime loads it, then each signature's description.
int InspectBundle(const std::string& path) {
  kiln_bundle* bundle = nullptr;
  char message[512] = "";
  kiln_bundle_options options = kiln_bundle_default_options();
  options.load_code = 0;  // kilnc links no kernel library; the code is checked, not run
  if (kiln_bundle_open(path.c_str(), &options, &bundle, message, sizeof message) != KILN_OK) {
    std::cerr << "kilnc: " << message << "\n";
    return kBadFile;
  }
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::cout << "bundle " << path << ": " << Grouped(static_cast<int64_t>(in.tellg()))
            << " bytes, format version " << KILN_BUNDLE_FORMAT_VERSION << ", "
            << kiln_bundle_num_signatures(bundle) << " signature(s) for this machine\n";
  for (int32_t i = 0; i < kiln_bundle_num_signatures(bundle); ++i) {
    std::cout << "signature " << kiln_bundle_signature_name(bundle, i) << ": ";
    PrintDescription(*kiln_bundle_signature(bundle, i), path);
  }
  kiln_bundle_close(bundle);
  return kOk;
}

int Inspect(const std::string& path, bool show_nodes) {
  // An object file (ELF, wasm) rather than a graph: read whole only then (graphs load themselves).
  {
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    in.read(magic, sizeof magic);
    const std::string head(magic, sizeof magic);
    if (head == "KILN") {
      char rest[4] = {};
      in.read(rest, sizeof rest);
      if (std::string(rest, sizeof rest) == "BNDL") return InspectBundle(path);
    }
    if (head ==
            "\x7f"
            "ELF" ||
        head == std::string("\0asm", 4)) {
      in.seekg(0);
      std::string object((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return InspectObject(path, object);
    }
  }
  int code = kOk;
  std::unique_ptr<Graph> graph = Load(path, &code);
  if (!graph) return code;
  const Graph& g = *graph;

  std::cout << "graph " << path << ": " << g.num_nodes() << " nodes, " << g.outputs().size()
            << " outputs (format version " << kGraphVersion << ")\n";
  if (show_nodes) {
    std::vector<std::vector<std::string>> rows = {{"name", "op", "outputs", "source"}};
    for (const Node& node : g.nodes()) {
      rows.push_back(
          {node.name, node.op_name(), Types(node), node.source.empty() ? "-" : node.source});
    }
    PrintTable(rows);
  }

  std::map<std::string, int> counts;
  for (const Node& node : g.nodes()) ++counts[node.op_name()];
  std::cout << "\nops (" << counts.size() << " kinds):\n";
  size_t op_width = 0;
  for (const auto& [op, count] : counts) op_width = std::max(op_width, op.size());
  for (const auto& [op, count] : counts) {
    std::cout << "  " << op << std::string(op_width - op.size() + 2, ' ') << count << "\n";
  }

  if (!g.outputs().empty()) {
    std::cout << "\noutputs:\n";
    for (const auto& [name, ref] : g.outputs()) {
      Tensor t(const_cast<Graph*>(&g), ref);
      std::cout << "  " << name << " = " << t.name() << " " << t.type().ToString() << "\n";
    }
  }

  // Parameters: the training parameters when the graph lists them, else every Variable.
  const TrainingInfo& training = g.training();
  std::vector<int> variables = training.parameters;
  const bool from_training = !variables.empty();
  if (!from_training) {
    for (const Node& node : g.nodes()) {
      if (node.op->is_stateful()) variables.push_back(node.id);
    }
  }
  int64_t parameters = 0;
  for (int id : variables) parameters += g.node(id).outputs[0].shape.NumElements();
  std::cout << "\nparameters: " << Grouped(parameters) << " in " << variables.size()
            << (from_training ? " Variables listed as training parameters"
                              : " Variables (all of them: the graph lists no training parameters)")
            << "\n";
  if (training.loss.valid() || !training.optimizer.empty()) {
    std::cout << "training: loss " << (training.loss.valid() ? training.loss.name() : "-")
              << ", optimizer " << (training.optimizer.empty() ? "-" : training.optimizer)
              << ", learning rate "
              << (training.learning_rate.empty() ? "-" : training.learning_rate) << ", "
              << training.slots.size() << " slots, " << training.updates.size() << " updates\n";
  }

  GraphFlops flops = EstimateGraphFlops(g);
  std::cout << "FLOPs (estimate, one run of every node): " << Grouped(flops.total) << "\n";
  if (!flops.not_modelled.empty()) {
    std::vector<std::string> ops;
    for (const auto& [op, count] : flops.not_modelled) ops.push_back(absl::StrCat(op, " x", count));
    std::cout << "  not counted (no cost model): " << absl::StrJoin(ops, ", ") << "\n";
  }
  return kOk;
}

std::string DotEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

int Dot(const std::string& path, const std::string& rankdir) {
  int code = kOk;
  std::unique_ptr<Graph> graph = Load(path, &code);
  if (!graph) return code;
  const Graph& g = *graph;
  std::cout << "digraph kiln {\n"
            << "  rankdir=" << rankdir << ";\n"
            << "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#ffffff\", "
               "fontname=\"Helvetica\", "
               "fontsize=10];\n"
            << "  edge [fontname=\"Helvetica\", fontsize=9];\n";
  for (const Node& node : g.nodes()) {
    const std::string label = absl::StrCat(node.op_name(), "\n", node.name, "\n", Types(node));
    std::string style;
    if (node.op->is_stateful()) {
      style = ", shape=box3d, style=filled, fillcolor=\"#dae8fc\"";
    } else if (node.op->is_fed()) {
      style = ", shape=invhouse, style=filled, fillcolor=\"#fff2cc\"";
    } else if (node.op_name() == "Const") {
      style = ", shape=note, fillcolor=\"#eeeeee\"";
    }
    std::cout << "  n" << node.id << " [label=\"" << DotEscape(label) << "\"" << style << "];\n";
  }
  for (const Node& node : g.nodes()) {
    for (const OutputRef& in : node.inputs) {
      std::cout << "  n" << in.node << " -> n" << node.id;
      if (in.index != 0) std::cout << " [label=\":" << in.index << "\"]";
      std::cout << ";\n";
    }
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    const auto& [name, ref] = g.outputs()[i];
    std::cout << "  out" << i << " [label=\"" << DotEscape(absl::StrCat("output\n", name))
              << "\", shape=doubleoctagon, fillcolor=\"#d5e8d4\"];\n";
    std::cout << "  n" << ref.node << " -> out" << i;
    if (ref.index != 0) std::cout << " [label=\":" << ref.index << "\"]";
    std::cout << ";\n";
  }
  std::cout << "}\n";
  return kOk;
}

int Convert(const std::string& in, const std::string& out) {
  int code = kOk;
  std::unique_ptr<Graph> graph = Load(in, &code);
  if (!graph) return code;
  if (absl::Status s = SaveGraph(*graph, out); !s.ok()) {
    std::cerr << "kilnc: " << s.message() << "\n";
    return kBadFile;
  }
  return kOk;
}

// The file's stem as a C identifier: "models/mlp-train.pb" → "mlp_train".
std::string DefaultName(const std::string& path) {
  std::string stem = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  stem = stem.substr(0, stem.find('.'));
  std::string name;
  for (char c : stem) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) name = "model_" + name;
  return name;
}

int Targets() {
  for (const Target& t : NamedTargets())
    std::printf("%-15s %s\n", t.name.c_str(), t.Describe().c_str());
  std::printf(
      "\ncuda:sm_XX names any NVIDIA chip. Options follow the name: "
      "NAME,cpu=C,features=F,library=none"
      "\n(and precision=f32|tf32|bf16 for cuda), e.g. x86_64,library=none or "
      "cuda:sm_80,precision=tf32.\n");
  return kOk;
}

// The graph with every input's leading (batch) dimension set to `batch`: rebuilt from its file
// form, so every op's shape rule runs again (an op that fixes the batch elsewhere fails, named).
absl::StatusOr<std::unique_ptr<Graph>> WithBatch(const Graph& graph, int64_t batch) {
  KILN_ASSIGN_OR_RETURN(proto::GraphDef def, ToGraphDef(graph));
  for (proto::NodeDef& node : *def.mutable_nodes()) {
    const OpDef* op = OpRegistry::Find(node.op());
    if (op == nullptr || !op->is_fed()) continue;
    proto::Shape* shape = (*node.mutable_attrs())["shape"].mutable_shape();
    if (shape->dims_size() > 0) shape->set_dims(0, batch);
  }
  return FromGraphDef(std::move(def));
}

// One signature of a bundle: its name, its graph and its compiled code.
struct Signature {
  std::string name;
  const Graph* graph;
  CompiledGraph compiled;
};

// `--emit bundle`: the signatures (the main graph's "serving_default", at each batch size, and
// those of --signatures, e.g. a training step) and their weights: every variable of any of them,
// by name, with its initial value (from the first graph that has it), or the values of `--weights
// CHECKPOINT`, a checkpoint of the graph that holds them all.
int WriteBundle(const std::vector<Signature>& signatures, const std::string& weights_path,
                const std::string& file) {
  std::vector<BundleWeight> weights;
  std::map<std::string, const Graph*> first;  // each weight's first graph
  const Graph* all = nullptr;                 // the graph that holds every weight, if one does
  for (const Signature& sig : signatures) {
    if (sig.compiled.training && sig.name == "serving_default") {
      std::cerr << "kilnc: serving_default is a training step (compile the model's inference "
                   "graph, and name the training step with --signatures train_step=GRAPH)\n";
      return kBadFile;
    }
    for (const ModelDescription::Argument& a : sig.compiled.arguments) {
      if (a.role != KILN_ROLE_VARIABLE) continue;
      auto w = std::find_if(weights.begin(), weights.end(),
                            [&](const BundleWeight& b) { return b.name == a.name; });
      const kiln_dtype dtype = RuntimeDType(a.type.dtype);
      if (w == weights.end()) {
        weights.push_back(
            {a.name, dtype, a.type.shape.dims(),
             std::string(a.type.shape.NumElements() * DTypeSize(a.type.dtype), '\0')});
        first[a.name] = sig.graph;
      } else if (w->dtype != dtype || w->dims != a.type.shape.dims()) {
        std::cerr << "kilnc: variable '" << a.name << "' of signature " << sig.name
                  << " has another type or shape than in the bundle's other signatures\n";
        return kBadFile;
      }
    }
  }
  for (const Signature& sig : signatures) {
    size_t n = 0;
    for (const ModelDescription::Argument& a : sig.compiled.arguments)
      n += a.role == KILN_ROLE_VARIABLE;
    if (n == weights.size() && all == nullptr) all = sig.graph;
  }
  if (!weights_path.empty()) {
    if (all == nullptr) {
      std::cerr << "kilnc: --weights: no graph of the bundle holds all its variables, so no "
                   "checkpoint can fill them\n";
      return kBadFile;
    }
    std::vector<kiln_tensor> tensors;
    for (BundleWeight& w : weights) {
      tensors.push_back({w.name.c_str(), w.dtype, static_cast<int32_t>(w.dims.size()),
                         w.dims.data(), w.data.data()});
    }
    kiln::rt::Status s = kiln::rt::LoadCheckpoint(weights_path, tensors.data(), tensors.size(),
                                                  Fingerprint(*all), nullptr);
    if (!s.ok()) {
      std::cerr << "kilnc: --weights: " << s.ToString() << "\n";
      return kBadFile;
    }
  } else {
    std::map<const Graph*, Interpreter> interpreters;
    for (BundleWeight& w : weights) {
      const Graph* g = first[w.name];
      if (!interpreters.count(g)) {
        absl::StatusOr<Interpreter> interpreter = Interpreter::Create(*g);
        if (!interpreter.ok()) {
          std::cerr << "kilnc: " << interpreter.status().message() << "\n";
          return kBadFile;
        }
        interpreters.emplace(g, *std::move(interpreter));
      }
      w.data = std::string(TensorData(interpreters.at(g).variables().at(w.name)).bytes());
    }
  }
  std::vector<BundleSignature> bundle_signatures;
  std::vector<std::string> names;
  for (const Signature& sig : signatures) {
    bundle_signatures.push_back({sig.name, sig.compiled.description, sig.compiled.object});
    if (std::find(names.begin(), names.end(), sig.name) == names.end()) names.push_back(sig.name);
  }
  absl::StatusOr<std::string> bundle = SerializeBundle(bundle_signatures, weights);
  absl::Status s = bundle.ok() ? WriteFileAtomically(file, *bundle) : bundle.status();
  if (!s.ok()) {
    std::cerr << "kilnc: " << s.message() << "\n";
    return kBadFile;
  }
  std::printf("kilnc: wrote %s (%zu signature(s) %s, %zu weights, %zu bytes)\n", file.c_str(),
              bundle_signatures.size(), absl::StrJoin(names, ", ").c_str(), weights.size(),
              bundle->size());
  return kOk;
}

// `import`: an ONNX model as DIR/NAME.pb, its weights the Variables' initial values.
int Import(const std::string& path, const std::string& out, const std::string& name,
           int64_t batch) {
  int code = kOk;
  std::unique_ptr<Graph> graph = Load(path, &code, batch);
  if (!graph) return code;
  std::error_code error;
  std::filesystem::create_directories(out, error);
  const std::string file = (std::filesystem::path(out) / name).string() + ".pb";
  absl::Status s = error ? absl::UnavailableError(absl::StrCat(
                               "cannot create the output directory '", out, "': ", error.message()))
                         : SaveGraph(*graph, file);
  if (!s.ok()) {
    std::cerr << "kilnc: " << s.message() << "\n";
    return kBadFile;
  }
  std::printf("kilnc: wrote %s (%d nodes, %zu outputs)\n", file.c_str(), graph->num_nodes(),
              graph->outputs().size());
  return kOk;
}

int Compile(const std::string& path, Args& args) {
  CompileOptions options;
  options.name = args.flags.count("--name") ? args.flags["--name"] : DefaultName(path);
  options.print_ir_after_all = args.flags.count("--print-ir-after-all") > 0;
  options.source = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  std::set<std::string> emit = {"obj", "header"};
  if (args.flags.count("--emit")) {
    emit.clear();
    for (absl::string_view e : absl::StrSplit(args.flags["--emit"], ',')) {
      if (e != "obj" && e != "header" && e != "mlir" && e != "llvm" && e != "asm" && e != "ptx" &&
          e != "bundle") {
        return Usage(absl::StrCat("compile: --emit: unknown kind '", e,
                                  "' (obj, header, mlir, llvm, asm, ptx, bundle)"));
      }
      emit.insert(std::string(e));
    }
  }
  // The flags below are shorthands for the target spec's options.
  std::string spec = args.flags.count("--target") ? args.flags["--target"] : DefaultTarget().name;
  if (args.flags.count("--cpu")) absl::StrAppend(&spec, ",cpu=", args.flags["--cpu"]);
  if (args.flags.count("--no-library-calls")) absl::StrAppend(&spec, ",library=none");
  if (args.flags.count("--gpu-precision"))
    absl::StrAppend(&spec, ",precision=", args.flags["--gpu-precision"]);
  absl::StatusOr<Target> target = ParseTarget(spec);
  if (!target.ok()) return Usage(absl::StrCat("compile: --target: ", target.status().message()));
  options.target = *std::move(target);
  if (emit.count("ptx") && !options.target.is_gpu())
    return Usage("compile: --emit ptx needs a GPU target (cuda)");
  options.emit_ir = emit.count("mlir") || emit.count("llvm") || emit.count("asm");
  const bool bundle = emit.count("bundle") > 0;
  if (bundle && emit.size() != 1) return Usage("compile: --emit bundle goes alone");
  if (args.flags.count("--weights") && !bundle)
    return Usage("compile: --weights goes with --emit bundle");
  if (bundle && options.target.is_gpu())
    return Usage("compile: --emit bundle: a bundle's code is for x86_64 in this version");
  options.initializer = !bundle;  // a bundle carries the weights as data
  std::vector<int64_t> batch_sizes;
  if (args.flags.count("--batch-sizes")) {
    if (!bundle) return Usage("compile: --batch-sizes goes with --emit bundle");
    for (absl::string_view b : absl::StrSplit(args.flags["--batch-sizes"], ',')) {
      int64_t batch = 0;
      if (!absl::SimpleAtoi(b, &batch) || batch < 1 || batch > (1 << 20) ||
          std::find(batch_sizes.begin(), batch_sizes.end(), batch) != batch_sizes.end()) {
        return Usage(absl::StrCat("compile: --batch-sizes: '", b,
                                  "' is not a new batch size (1 to 1048576)"));
      }
      batch_sizes.push_back(batch);
    }
  }
  std::vector<std::pair<std::string, std::string>> extra;  // --signatures: name, graph file
  if (args.flags.count("--signatures")) {
    if (!bundle) return Usage("compile: --signatures goes with --emit bundle");
    for (absl::string_view item : absl::StrSplit(args.flags["--signatures"], ',')) {
      const size_t eq = item.find('=');
      const std::string name(item.substr(0, eq));
      const bool taken =
          name == "serving_default" ||
          std::any_of(extra.begin(), extra.end(), [&](const auto& e) { return e.first == name; });
      if (eq == absl::string_view::npos || name.empty() || eq + 1 == item.size() || taken ||
          !std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
          })) {
        return Usage(absl::StrCat("compile: --signatures: '", item,
                                  "' is not NAME=GRAPH with a new name of letters, digits and _"));
      }
      extra.emplace_back(name, std::string(item.substr(eq + 1)));
    }
  }
  if (absl::Status s = CheckCompileOptions(options); !s.ok())
    return Usage(absl::StrCat("compile: ", s.message()));

  int code = kOk;
  std::unique_ptr<Graph> graph = Load(path, &code);
  if (!graph) return code;
  const std::string& out = args.flags["--out"];
  const std::string base = (std::filesystem::path(out) / options.name).string();
  // The graph as it is (batch 0 below), or at each of --batch-sizes: each a signature of a bundle.
  std::vector<CompiledGraph> compiled;
  for (int64_t batch : batch_sizes.empty() ? std::vector<int64_t>{0} : batch_sizes) {
    absl::StatusOr<CompiledGraph> c = absl::InternalError("");
    if (batch == 0) {
      c = CompileGraph(*graph, options);
    } else {
      // An ONNX model is imported again at the batch: its ops' attributes (e.g. a Flatten's) follow
      // its symbolic batch, which the imported graph has fixed.
      OnnxImportOptions onnx;
      onnx.batch = batch;
      absl::StatusOr<std::unique_ptr<Graph>> batched =
          absl::EndsWith(path, ".onnx") ? ImportOnnx(path, onnx) : WithBatch(*graph, batch);
      CompileOptions at_batch = options;
      at_batch.name = absl::StrCat(options.name, "_b", batch);
      c = batched.ok() ? CompileGraph(**batched, at_batch) : batched.status();
    }
    if (!c.ok()) {
      std::cerr << "kilnc: cannot compile '" << path << "'"
                << (batch > 0 ? absl::StrCat(" at batch ", batch) : "") << ": "
                << c.status().message() << "\n";
      return kBadFile;
    }
    compiled.push_back(*std::move(c));
  }
  std::error_code error;
  std::filesystem::create_directories(out, error);
  if (error) {
    std::cerr << "kilnc: cannot create the output directory '" << out << "': " << error.message()
              << "\n";
    return kBadFile;
  }
  if (bundle) {
    std::vector<Signature> signatures;
    for (CompiledGraph& c : compiled)
      signatures.push_back({"serving_default", graph.get(), std::move(c)});
    // --signatures NAME=GRAPH,...: more graphs, each one signature as it is (its own batch).
    std::vector<std::unique_ptr<Graph>> more;
    for (const auto& [name, more_path] : extra) {
      more.push_back(Load(more_path, &code));
      if (!more.back()) return code;
      CompileOptions named = options;
      named.name = absl::StrCat(options.name, "_", name);
      absl::StatusOr<CompiledGraph> c = CompileGraph(*more.back(), named);
      if (!c.ok()) {
        std::cerr << "kilnc: cannot compile '" << more_path << "' (signature " << name
                  << "): " << c.status().message() << "\n";
        return kBadFile;
      }
      signatures.push_back({name, more.back().get(), *std::move(c)});
    }
    return WriteBundle(signatures, args.flags.count("--weights") ? args.flags["--weights"] : "",
                       base + ".kiln");
  }
  const CompiledGraph& one = compiled[0];
  const std::vector<std::pair<std::string, const std::string*>> files = {
      {"obj", &one.object},   {"header", &one.header}, {"mlir", &one.mlir},
      {"llvm", &one.llvm_ir}, {"asm", &one.assembly},  {"ptx", &one.ptx}};
  const std::map<std::string, std::string> extension = {{"obj", ".o"},     {"header", ".h"},
                                                        {"mlir", ".mlir"}, {"llvm", ".ll"},
                                                        {"asm", ".s"},     {"ptx", ".ptx"}};
  std::vector<std::string> written;
  for (const auto& [kind, data] : files) {
    if (!emit.count(kind)) continue;
    const std::string file = base + extension.at(kind);
    if (absl::Status s = WriteFileAtomically(file, *data); !s.ok()) {
      std::cerr << "kilnc: " << s.message() << "\n";
      return kBadFile;
    }
    written.push_back(file);
  }
  std::printf("kilnc: wrote %s (%s step; lower %.2f s, passes %.2f s, codegen %.2f s)\n",
              absl::StrJoin(written, ", ").c_str(), one.training ? "training" : "inference",
              one.seconds_lower, one.seconds_passes, one.seconds_codegen);
  return kOk;
}

int Main(int argc, char** argv) {
  if (argc < 2) return Usage("no command given");
  const std::string command = argv[1];
  const std::vector<std::string> rest(argv + 2, argv + argc);
  if (command == "help" || command == "--help" || command == "-h") {
    std::cout << kUsageText;
    return kOk;
  }
  Args args;
  std::string error;
  if (command == "inspect") {
    error = ParseArgs(rest, {{"--no-nodes", false}}, &args);
    if (error.empty() && args.positional.size() != 1) error = "inspect takes one graph file";
    if (!error.empty()) return Usage(absl::StrCat("inspect: ", error));
    return Inspect(args.positional[0], !args.flags.count("--no-nodes"));
  }
  if (command == "dot") {
    error = ParseArgs(rest, {{"--rankdir", true}}, &args);
    if (error.empty() && args.positional.size() != 1) error = "dot takes one graph file";
    std::string rankdir = args.flags.count("--rankdir") ? args.flags["--rankdir"] : "TB";
    if (error.empty() && rankdir != "TB" && rankdir != "LR") {
      error = absl::StrCat("--rankdir must be TB or LR, not '", rankdir, "'");
    }
    if (!error.empty()) return Usage(absl::StrCat("dot: ", error));
    return Dot(args.positional[0], rankdir);
  }
  if (command == "import") {
    error = ParseArgs(rest, {{"--out", true}, {"--name", true}, {"--batch", true}}, &args);
    if (error.empty() && args.positional.size() != 1) error = "import takes one ONNX model";
    if (error.empty() && !args.flags.count("--out")) error = "--out DIR is required";
    int64_t batch = 1;
    if (error.empty() && args.flags.count("--batch") &&
        (!absl::SimpleAtoi(args.flags["--batch"], &batch) || batch < 1)) {
      error = absl::StrCat("--batch: '", args.flags["--batch"], "' is not a positive size");
    }
    if (!error.empty()) return Usage(absl::StrCat("import: ", error));
    return Import(
        args.positional[0], args.flags["--out"],
        args.flags.count("--name") ? args.flags["--name"] : DefaultName(args.positional[0]), batch);
  }
  if (command == "convert") {
    error = ParseArgs(rest, {}, &args);
    if (error.empty() && args.positional.size() != 2)
      error = "convert takes an input and an output file";
    if (!error.empty()) return Usage(absl::StrCat("convert: ", error));
    return Convert(args.positional[0], args.positional[1]);
  }
  if (command == "compile") {
    error = ParseArgs(rest,
                      {{"--out", true},
                       {"--name", true},
                       {"--cpu", true},
                       {"--emit", true},
                       {"--print-ir-after-all", false},
                       {"--no-library-calls", false},
                       {"--target", true},
                       {"--gpu-precision", true},
                       {"--weights", true},
                       {"--batch-sizes", true},
                       {"--signatures", true}},
                      &args);
    if (error.empty() && args.positional.size() != 1) error = "compile takes one graph file";
    if (error.empty() && !args.flags.count("--out")) error = "--out DIR is required";
    if (!error.empty()) return Usage(absl::StrCat("compile: ", error));
    return Compile(args.positional[0], args);
  }
  if (command == "targets") {
    error = ParseArgs(rest, {}, &args);
    if (error.empty() && !args.positional.empty()) error = "targets takes no arguments";
    if (!error.empty()) return Usage(absl::StrCat("targets: ", error));
    return Targets();
  }
  if (!command.empty() && command[0] == '-')
    return Usage(absl::StrCat("unknown flag '", command, "'"));
  return Usage(absl::StrCat("unknown command '", command, "'"));
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) { return kiln::Main(argc, argv); }
