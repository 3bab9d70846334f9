// kiln serve: models from a repository of bundles, served over HTTP with the Open Inference
// Protocol (KServe v2). See docs/serving.md.
//
//   repository/<model>/<version>/model.kiln     versions are positive integers; the highest is
//                                                served, and any version can be asked for
//   repository/<model>/config.json              optional: {"dynamic_batching":
//                                                {"max_queue_delay_microseconds": 500},
//                                                "instances": 2}
#ifndef KILN_SERVING_SERVER_H_
#define KILN_SERVING_SERVER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "runtime/bundle.h"
#include "runtime/status.h"
#include "serving/batcher.h"
#include "serving/metrics.h"

namespace kiln {
namespace serving {

class GrpcEndpoint;

// One version of a model: its bundle, whose serving_default signatures (one per batch size) share
// the inputs' and outputs' names and types.
struct ModelVersion {
  std::string name;
  int64_t version = 0;
  std::unique_ptr<rt::Bundle> bundle;
  int64_t max_batch = 0;  // the largest compiled batch size
  // Dynamic batching (DIR/<model>/config.json), or null: each request runs on its own. Declared
  // after the bundle, so it stops before the bundle goes.
  std::unique_ptr<Batcher> batcher;
};

// The models of a repository: loaded at start, then kept in step with the directory by Poll().
// Thread-safe; a version that is removed or replaced stays alive while requests hold it.
class Repository {
 public:
  // Loads every DIR/<model>/<version>/model.kiln that opens; one that does not is reported on
  // stderr and retried by Poll(). NOT_FOUND for a missing directory; FAILED_PRECONDITION naming a
  // bundle and its error when files are there but none loads.
  static rt::StatusOr<std::unique_ptr<Repository>> Load(const std::string& dir);

  // Rescans the directory: loads new versions (and files replaced since), unloads removed ones. A
  // file that does not open (e.g. one being copied in) is left for the next poll, and the version
  // already loaded from that directory, if any, stays. Returns what changed, one line each.
  std::vector<std::string> Poll();

  // The version (0: the highest) of `model`, or null.
  std::shared_ptr<const ModelVersion> Find(const std::string& model, int64_t version) const;
  std::vector<int64_t> Versions(const std::string& model) const;
  std::vector<std::string> Models() const;

 private:
  explicit Repository(std::string dir) : dir_(std::move(dir)) {}
  struct Loaded {
    std::shared_ptr<const ModelVersion> model;
    int64_t file_size = -1;
    int64_t file_time = 0;  // modification time, ns
  };
  // Scans; with `strict`, the first bundle that does not load is the error.
  rt::Status Scan(bool strict, std::vector<std::string>* changes);

  const std::string dir_;
  mutable std::mutex mutex_;
  std::map<std::string, std::map<int64_t, Loaded>> models_;
  std::map<std::string, std::string> failed_;  // file → the error last reported for it
};
struct ServerOptions {
  std::string address = "127.0.0.1";  // where to listen
  double poll_seconds = 2;            // how often the repository is rescanned (0: never)
  int http_port = 8000;
  int grpc_port = 8001;              // the gRPC endpoint (-1: none; 0: any free port)
  int metrics_port = 8002;           // Prometheus' GET /metrics (-1: none; 0: any free port)
  int threads = 4;                   // request threads
  size_t max_body_bytes = 64 << 20;  // a larger request is refused (413)
  int connection_timeout_s = 10;     // an idle or stalled connection is closed
};

// A tensor of an infer request or answer, as both protocols carry it: raw little-endian elements
// of `datatype` (an Open Inference Protocol name: FP32, INT64, ...), row-major.
struct Tensor {
  std::string name, datatype;
  std::vector<int64_t> shape;
  std::string data;
};

// An infer request once its protocol's encoding is undone.
struct InferRequest {
  std::string model;
  int64_t version = 0;  // 0: the highest
  std::string id;
  std::vector<Tensor> inputs;
  std::vector<std::string> outputs;  // the outputs wanted, by name; empty: all
};

struct InferResponse {
  std::string model_name;
  int64_t model_version = 0;
  std::string id;
  std::vector<Tensor> outputs;  // in the model's order
};

// How a request went, in HTTP's terms (200; 400, 404, 405, 413; 500, 503) with the error's message;
// the gRPC endpoint maps the codes to its own.
struct Reply {
  int code = 200;
  std::string error;
  bool ok() const { return code == 200; }
};

struct TensorInfo {
  std::string name, datatype;
  std::vector<int64_t> shape;  // -1 for the batch (any size up to the largest compiled)
};
struct ModelInfo {
  std::string name, platform;
  std::vector<std::string> versions;
  std::vector<TensorInfo> inputs, outputs;
};

// What GET /v2 and ServerMetadata report.
constexpr char kServerName[] = "kiln";
constexpr char kServerVersion[] = "0.1.0";
// The protocol extensions kiln serve implements.
const std::vector<std::string>& Extensions();

// A model version's name (a directory's, a path's, a request's): a positive integer, or 0 for
// anything else.
int64_t ParseVersion(const std::string& v);

// Serves `repository` over HTTP and gRPC until Stop(). Thread-safe.
class Server {
 public:
  // Serves `repository` (which must outlive the server), polling it every options.poll_seconds.
  static rt::StatusOr<std::unique_ptr<Server>> Start(Repository& repository,
                                                     const ServerOptions& options);
  ~Server();
  // The ports listened on (the ones given, or the ones the system chose for port 0; -1: none).
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }
  int grpc_port() const;
  // Stops accepting, lets requests in flight finish, then returns.
  void Stop();

  // Checks and runs an infer request. `done` gets the answer exactly once: before Infer returns
  // for a model that runs each request on its own, and on a batching thread, once its batch has
  // run, for one with dynamic batching (so that the caller's thread serves others meanwhile).
  using InferDone = std::function<void(Reply, InferResponse)>;
  void Infer(InferRequest request, InferDone done) const;
  // Whether `model`'s `version` (0: the highest) exists and batches (its Infer answers later).
  bool Batches(const std::string& model, int64_t version) const;
  Reply Metadata(const std::string& model, int64_t version, ModelInfo* info) const;
  Reply Ready(const std::string& model, int64_t version) const;
  // The statistics extension for `model` (all when empty) and `version` (all when 0).
  Reply Stats(const std::string& model, int64_t version,
              std::vector<Metrics::ModelStats>* stats) const;

 private:
  Server(Repository& repository, const ServerOptions& options);
  // Every HTTP request but POST .../infer: health, metadata, ready, statistics; the status code,
  // and the answer's JSON in `response`.
  int Handle(const std::string& method, const std::string& path, std::string* response) const;
  // Counts a request for `model` that failed before Infer could check it (e.g. bad JSON).
  void Failed(const std::string& model, int64_t version,
              std::chrono::steady_clock::time_point start) const;
  Repository& repository_;
  ServerOptions options_;
  void* daemon_ = nullptr;
  void* metrics_daemon_ = nullptr;
  int port_ = 0, metrics_port_ = -1;
  mutable Metrics metrics_;
  mutable std::atomic<int> suspended_{0};  // HTTP requests waiting for their batch
  std::unique_ptr<GrpcEndpoint> grpc_;
  std::thread poller_;
  std::mutex stop_mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
};

}  // namespace serving
}  // namespace kiln

#endif  // KILN_SERVING_SERVER_H_
