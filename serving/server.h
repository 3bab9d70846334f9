// kiln serve: models from a repository of bundles, served over HTTP with the Open Inference
// Protocol (KServe v2). See docs/serving.md.
//
//   repository/<model>/<version>/model.kiln     versions are positive integers; the highest is
//                                                served, and any version can be asked for
#ifndef KILN_SERVING_SERVER_H_
#define KILN_SERVING_SERVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/bundle.h"
#include "runtime/status.h"

namespace kiln {
namespace serving {

// One version of a model: its bundle, whose serving_default signatures (one per batch size) share
// the inputs' and outputs' names and types.
struct ModelVersion {
  std::string name;
  int64_t version = 0;
  std::unique_ptr<rt::Bundle> bundle;
  int64_t max_batch = 0;  // the largest compiled batch size
};

// The models of a repository, loaded at start.
class Repository {
 public:
  // Loads every DIR/<model>/<version>/model.kiln. NOT_FOUND for a missing directory; the error of
  // a bundle that does not load, naming it.
  static rt::StatusOr<std::unique_ptr<Repository>> Load(const std::string& dir);

  // The version (0: the highest) of `model`, or null.
  const ModelVersion* Find(const std::string& model, int64_t version) const;
  std::vector<int64_t> Versions(const std::string& model) const;
  std::vector<std::string> Models() const;

 private:
  std::map<std::string, std::map<int64_t, std::unique_ptr<ModelVersion>>> models_;
};

struct ServerOptions {
  std::string address = "127.0.0.1";  // where to listen
  int http_port = 8000;
  int threads = 4;                   // request threads
  size_t max_body_bytes = 64 << 20;  // a larger request is refused (413)
  int connection_timeout_s = 10;     // an idle or stalled connection is closed
};

// Serves `repository` over HTTP until Stop(). Thread-safe.
class Server {
 public:
  static rt::StatusOr<std::unique_ptr<Server>> Start(const Repository& repository,
                                                     const ServerOptions& options);
  ~Server();
  // The port listened on (the one given, or the one the system chose for port 0).
  int port() const { return port_; }
  // Stops accepting, lets requests in flight finish, then returns.
  void Stop();

  // One request, as the HTTP layer hands it over: method, path, body, and the binary tensor
  // extension's Inference-Header-Content-Length (-1 without it); returns the HTTP status and fills
  // the answer (JSON, then binary outputs when *binary_header is set to the JSON's length).
  int Handle(const std::string& method, const std::string& path, const std::string& body,
             int64_t json_bytes, std::string* response, int64_t* binary_header) const;

 private:
  Server(const Repository& repository, const ServerOptions& options)
      : repository_(repository), options_(options) {}
  const Repository& repository_;
  ServerOptions options_;
  void* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace serving
}  // namespace kiln

#endif  // KILN_SERVING_SERVER_H_
