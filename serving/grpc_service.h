// kiln serve's gRPC endpoint: the Open Inference Protocol's GRPCInferenceService (inference.proto),
// answered by the same protocol-neutral calls as HTTP (Server::Infer, Metadata, Ready), so both
// protocols check and run requests alike; tensors go from the message to the model as bytes.
#ifndef KILN_SERVING_GRPC_SERVICE_H_
#define KILN_SERVING_GRPC_SERVICE_H_

#include <memory>
#include <string>

#include "runtime/status.h"

namespace kiln {
namespace serving {

class Server;

class GrpcEndpoint {
 public:
  // Listens on address:port (0: a free port) and answers with `server`.
  static rt::StatusOr<std::unique_ptr<GrpcEndpoint>> Start(const Server& server,
                                                           const std::string& address, int port);
  ~GrpcEndpoint();
  int port() const { return port_; }
  // Stops accepting and waits for the calls in flight.
  void Stop();

 private:
  struct Impl;
  explicit GrpcEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace serving
}  // namespace kiln

#endif  // KILN_SERVING_GRPC_SERVICE_H_
