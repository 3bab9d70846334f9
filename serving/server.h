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

// Serves `repository` over HTTP until Stop(). Thread-safe.
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

  // One request, as the HTTP layer hands it over: method, path, body, and the binary tensor
  // extension's Inference-Header-Content-Length (-1 without it); returns the HTTP status and fills
  // the answer (JSON, then binary outputs when *binary_header is set to the JSON's length).
  int Handle(const std::string& method, const std::string& path, const std::string& body,
             int64_t json_bytes, std::string* response, int64_t* binary_header) const;

  // For an infer of a model with dynamic batching: the model (else null). Such a request is
  // answered by HandleBatched, which returns at once and calls `done` when its batch has run, so
  // that the request thread serves others meanwhile.
  std::shared_ptr<const ModelVersion> BatchedTarget(const std::string& method,
                                                    const std::string& path) const;
  using Done = std::function<void(int code, std::string response, int64_t binary_header)>;
  void HandleBatched(std::shared_ptr<const ModelVersion> model, const std::string& body,
                     int64_t json_bytes, Done done) const;

 private:
  Server(Repository& repository, const ServerOptions& options);
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
