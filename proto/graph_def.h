// Saving and loading graphs: kiln::Graph ⇄ kiln::proto::GraphDef (proto/graph.proto) ⇄ files.
//
//   KILN_RETURN_IF_ERROR(kiln::SaveGraph(g, "model.kiln"));           // binary
//   KILN_RETURN_IF_ERROR(kiln::SaveGraph(g, "model.pbtxt"));          // text
//   KILN_ASSIGN_OR_RETURN(std::unique_ptr<kiln::Graph> g2, kiln::LoadGraph("model.kiln"));
//
// A loaded graph is rebuilt node by node through Graph::AddNode, so it passes every check a graph
// built in C++ does; its node names, attributes, source locations, outputs and training metadata
// are the saved ones. Errors are absl::Status values naming the file and node: InvalidArgument for
// anything wrong in a file, NotFound for a missing file.
#ifndef KILN_PROTO_GRAPH_DEF_H_
#define KILN_PROTO_GRAPH_DEF_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "graph/graph.h"
#include "proto/graph.pb.h"

namespace kiln {

// The format version this build writes (tensors as raw little-endian bytes), and the oldest one it
// reads (version 1: tensors as lists of doubles or int64). graph.proto says what changed.
inline constexpr int kGraphVersion = 2;
inline constexpr int kOldestGraphVersion = 1;

// Converts a graph (which must be ok()) to its file form (version kGraphVersion). Fails when the
// graph has an error, a node name containing ':', or an i64 tensor value beyond +-2^53. Tensor
// bytes are copied into the message once.
absl::StatusOr<proto::GraphDef> ToGraphDef(const Graph& graph);

// Rebuilds a graph. Checks the version, node names (non-empty, unique, no ':'), ops, references
// (existing node, output index in range), acyclicity (naming the nodes on a cycle), attribute
// values, then adds the nodes in a topological order (file order where the graph allows it) through
// Graph::AddNode, which checks arity, attributes, dtypes and shapes. Every error names the node.
// The rvalue form moves the tensors' bytes out of `def` instead of copying them (as LoadGraph
// does).
absl::StatusOr<std::unique_ptr<Graph>> FromGraphDef(const proto::GraphDef& def);
absl::StatusOr<std::unique_ptr<Graph>> FromGraphDef(proto::GraphDef&& def);

// Parses the binary or text form (no graph checks yet: see FromGraphDef).
absl::StatusOr<proto::GraphDef> ParseGraph(std::string_view bytes);
absl::StatusOr<proto::GraphDef> ParseGraphText(std::string_view text);

// The file contents SaveGraph writes: binary (deterministic) or text.
absl::StatusOr<std::string> SerializeGraph(const Graph& graph, bool text);

// Whether `path` names a text-format graph file (ends in ".pbtxt").
bool IsTextGraphPath(std::string_view path);

// Writes `graph` to `path`, in text format when the path ends in ".pbtxt", else binary. Atomic: the
// data goes to a temporary file in the same directory, which is fsync'ed and renamed over `path`,
// so readers see the old file or the new one, never a partial one. The message is serialized
// straight into the file (beside the graph, memory holds one copy of its tensors: the message's).
absl::Status SaveGraph(const Graph& graph, const std::string& path);

// Writes `data` to `path` through a temporary file in the same directory (write, fsync, rename,
// fsync the directory): readers see the old file or the new one, never a part.
absl::Status WriteFileAtomically(const std::string& path, const std::string& data);

// Reads and rebuilds a graph saved by SaveGraph (text format when the path ends in ".pbtxt"), of
// any version from kOldestGraphVersion to kGraphVersion. A binary file is parsed straight from the
// file and its tensors' bytes move into the graph: loading holds one copy of them.
absl::StatusOr<std::unique_ptr<Graph>> LoadGraph(const std::string& path);

}  // namespace kiln

#endif  // KILN_PROTO_GRAPH_DEF_H_
