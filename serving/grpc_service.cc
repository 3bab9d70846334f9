#include "serving/grpc_service.h"

#include <grpcpp/grpcpp.h>

#include <cstring>

#include "serving/inference.grpc.pb.h"
#include "serving/server.h"

namespace kiln {
namespace serving {
namespace {

// A Reply's HTTP status as a gRPC status.
grpc::Status ToGrpc(const Reply& reply) {
  switch (reply.code) {
    case 200: return grpc::Status::OK;
    case 400: return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, reply.error);
    case 404: return grpc::Status(grpc::StatusCode::NOT_FOUND, reply.error);
    case 413: return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, reply.error);
    case 503: return grpc::Status(grpc::StatusCode::UNAVAILABLE, reply.error);
    default: return grpc::Status(grpc::StatusCode::INTERNAL, reply.error);
  }
}

// A request's model version: empty for the highest, else a positive integer.
bool Version(const std::string& text, int64_t* version) {
  *version = text.empty() ? 0 : ParseVersion(text);
  return text.empty() || *version != 0;
}

grpc::Status BadVersion(const std::string& text) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                      "version '" + text + "' is not a positive integer");
}

// Typed contents as raw little-endian bytes, for the datatype.
template <typename T, typename Field>
std::string Raw(const Field& field) {
  std::string bytes(field.size() * sizeof(T), '\0');
  for (int i = 0; i < field.size(); ++i) {
    const T v = static_cast<T>(field.Get(i));
    std::memcpy(&bytes[i * sizeof(T)], &v, sizeof(T));
  }
  return bytes;
}

bool ContentsAsBytes(const std::string& datatype, const inference::InferTensorContents& c,
                     std::string* out) {
  if (datatype == "FP32")
    *out = Raw<float>(c.fp32_contents());
  else if (datatype == "FP64")
    *out = Raw<double>(c.fp64_contents());
  else if (datatype == "INT32")
    *out = Raw<int32_t>(c.int_contents());
  else if (datatype == "INT8")
    *out = Raw<int8_t>(c.int_contents());
  else if (datatype == "INT64")
    *out = Raw<int64_t>(c.int64_contents());
  else if (datatype == "BOOL")
    *out = Raw<uint8_t>(c.bool_contents());
  else
    return false;
  return true;
}

// The callback API: a batched infer finishes on the batcher's thread, holding no gRPC thread
// while it waits.
class Service final : public inference::GRPCInferenceService::CallbackService {
 public:
  explicit Service(const Server& server) : server_(server) {}

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context,
                                       const inference::ServerLiveRequest*,
                                       inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context,
                                        const inference::ServerReadyRequest*,
                                        inference::ServerReadyResponse* response) override {
    response->set_ready(true);
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override {
    int64_t version = 0;
    if (!Version(request->version(), &version))
      return Finish(context, BadVersion(request->version()));
    const Reply reply = server_.Ready(request->name(), version);
    if (!reply.ok() && reply.code != 404) return Finish(context, ToGrpc(reply));
    response->set_ready(reply.ok());
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context,
                                           const inference::ServerMetadataRequest*,
                                           inference::ServerMetadataResponse* response) override {
    response->set_name(kServerName);
    response->set_version(kServerVersion);
    for (const std::string& e : Extensions()) response->add_extensions(e);
    return Finish(context, grpc::Status::OK);
  }
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override {
    int64_t version = 0;
    if (!Version(request->version(), &version))
      return Finish(context, BadVersion(request->version()));
    ModelInfo info;
    const Reply reply = server_.Metadata(request->name(), version, &info);
    if (!reply.ok()) return Finish(context, ToGrpc(reply));
    response->set_name(info.name);
    response->set_platform(info.platform);
    for (const std::string& v : info.versions) response->add_versions(v);
    for (const TensorInfo& t : info.inputs) Describe(t, response->add_inputs());
    for (const TensorInfo& t : info.outputs) Describe(t, response->add_outputs());
    return Finish(context, grpc::Status::OK);
  }

  // Inputs as raw_input_contents (one per input) or typed contents; every output answered as
  // raw_output_contents.
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const inference::ModelInferRequest* request,
                                       inference::ModelInferResponse* response) override {
    const bool raw = request->raw_input_contents_size() > 0;
    if (raw && request->raw_input_contents_size() != request->inputs_size()) {
      return Finish(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                          "raw_input_contents has " +
                                              std::to_string(request->raw_input_contents_size()) +
                                              " tensors for " +
                                              std::to_string(request->inputs_size()) + " inputs"));
    }
    InferRequest infer;
    infer.model = request->model_name();
    if (!Version(request->model_version(), &infer.version))
      return Finish(context, BadVersion(request->model_version()));
    infer.id = request->id();
    for (int i = 0; i < request->inputs_size(); ++i) {
      const auto& in = request->inputs(i);
      Tensor t{in.name(), in.datatype(), {in.shape().begin(), in.shape().end()}, {}};
      if (raw) {
        t.data = request->raw_input_contents(i);
      } else if (!ContentsAsBytes(in.datatype(), in.contents(), &t.data)) {
        return Finish(context, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                            "input '" + in.name() + "': datatype '" +
                                                in.datatype() + "' is not one kiln serve takes"));
      }
      infer.inputs.push_back(std::move(t));
    }
    for (const auto& out : request->outputs()) infer.outputs.push_back(out.name());
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    server_.Infer(std::move(infer), [reactor, response](Reply reply, InferResponse answer) {
      if (!reply.ok()) return reactor->Finish(ToGrpc(reply));
      response->set_model_name(answer.model_name);
      response->set_model_version(std::to_string(answer.model_version));
      response->set_id(answer.id);
      for (Tensor& t : answer.outputs) {
        auto* out = response->add_outputs();
        out->set_name(t.name);
        out->set_datatype(t.datatype);
        for (int64_t d : t.shape) out->add_shape(d);
        response->add_raw_output_contents(std::move(t.data));
      }
      reactor->Finish(grpc::Status::OK);
    });
    return reactor;
  }

  grpc::ServerUnaryReactor* ModelStatistics(grpc::CallbackServerContext* context,
                                            const inference::ModelStatisticsRequest* request,
                                            inference::ModelStatisticsResponse* response) override {
    int64_t version = 0;
    if (!Version(request->version(), &version))
      return Finish(context, BadVersion(request->version()));
    std::vector<Metrics::ModelStats> stats;
    const Reply reply = server_.Stats(request->name(), version, &stats);
    if (!reply.ok()) return Finish(context, ToGrpc(reply));
    auto duration = [](const Metrics::Duration& d, inference::StatisticDuration* out) {
      out->set_count(d.count);
      out->set_ns(d.ns);
    };
    for (const Metrics::ModelStats& s : stats) {
      inference::ModelStatistics* out = response->add_model_stats();
      out->set_name(s.name);
      out->set_version(std::to_string(s.version));
      out->set_inference_count(s.inference_count);
      out->set_execution_count(s.execution_count);
      inference::InferStatistics* infer = out->mutable_inference_stats();
      duration(s.success, infer->mutable_success());
      duration(s.fail, infer->mutable_fail());
      duration(s.queue, infer->mutable_queue());
      duration(s.compute_infer, infer->mutable_compute_infer());
    }
    return Finish(context, grpc::Status::OK);
  }

 private:
  static grpc::ServerUnaryReactor* Finish(grpc::CallbackServerContext* context,
                                          const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }
  template <typename Metadata>
  static void Describe(const TensorInfo& t, Metadata* out) {
    out->set_name(t.name);
    out->set_datatype(t.datatype);
    for (int64_t d : t.shape) out->add_shape(d);
  }
  const Server& server_;
};

}  // namespace

struct GrpcEndpoint::Impl {
  explicit Impl(const Server& server) : service(server) {}
  Service service;
  std::unique_ptr<grpc::Server> server;
};

GrpcEndpoint::GrpcEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

rt::StatusOr<std::unique_ptr<GrpcEndpoint>> GrpcEndpoint::Start(const Server& server,
                                                                const std::string& address,
                                                                int port) {
  auto impl = std::make_unique<Impl>(server);
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(address + ":" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &selected);
  builder.RegisterService(&impl->service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  impl->server = builder.BuildAndStart();
  if (impl->server == nullptr || selected == 0) {
    return rt::UnavailableError("cannot listen on " + address + ":" + std::to_string(port) +
                                " (gRPC)");
  }
  std::unique_ptr<GrpcEndpoint> endpoint(new GrpcEndpoint(std::move(impl)));
  endpoint->port_ = selected;
  return endpoint;
}

void GrpcEndpoint::Stop() {
  if (impl_->server != nullptr) impl_->server->Shutdown();
}

GrpcEndpoint::~GrpcEndpoint() { Stop(); }

}  // namespace serving
}  // namespace kiln
