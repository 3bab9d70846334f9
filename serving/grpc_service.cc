#include "serving/grpc_service.h"

#include <grpcpp/grpcpp.h>

#include <cstring>

#include "nlohmann/json.hpp"
#include "serving/inference.grpc.pb.h"
#include "serving/server.h"

namespace kiln {
namespace serving {
namespace {

using json = nlohmann::json;

// An HTTP status of Server::Handle as a gRPC status.
grpc::Status ToGrpc(int code, const std::string& body) {
  const json error = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const std::string message =
      error.is_object() && error.contains("error") ? error["error"].get<std::string>() : body;
  switch (code) {
    case 400: return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
    case 404: return grpc::Status(grpc::StatusCode::NOT_FOUND, message);
    case 413: return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, message);
    default: return grpc::Status(grpc::StatusCode::INTERNAL, message);
  }
}

std::string ModelPath(const std::string& name, const std::string& version) {
  return "/v2/models/" + name + (version.empty() ? "" : "/versions/" + version);
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

class Service final : public inference::GRPCInferenceService::Service {
 public:
  explicit Service(const Server& server) : server_(server) {}

  grpc::Status ServerLive(grpc::ServerContext*, const inference::ServerLiveRequest*,
                          inference::ServerLiveResponse* response) override {
    response->set_live(true);
    return grpc::Status::OK;
  }
  grpc::Status ServerReady(grpc::ServerContext*, const inference::ServerReadyRequest*,
                           inference::ServerReadyResponse* response) override {
    response->set_ready(true);
    return grpc::Status::OK;
  }
  grpc::Status ModelReady(grpc::ServerContext*, const inference::ModelReadyRequest* request,
                          inference::ModelReadyResponse* response) override {
    std::string body;
    const int code =
        Call("GET", ModelPath(request->name(), request->version()) + "/ready", "", -1, &body);
    if (code != 200 && code != 404) return ToGrpc(code, body);
    response->set_ready(code == 200);
    return grpc::Status::OK;
  }
  grpc::Status ServerMetadata(grpc::ServerContext*, const inference::ServerMetadataRequest*,
                              inference::ServerMetadataResponse* response) override {
    std::string body;
    const int code = Call("GET", "/v2", "", -1, &body);
    if (code != 200) return ToGrpc(code, body);
    const json metadata = json::parse(body);
    response->set_name(metadata["name"]);
    response->set_version(metadata["version"]);
    return grpc::Status::OK;
  }
  grpc::Status ModelMetadata(grpc::ServerContext*, const inference::ModelMetadataRequest* request,
                             inference::ModelMetadataResponse* response) override {
    std::string body;
    const int code = Call("GET", ModelPath(request->name(), request->version()), "", -1, &body);
    if (code != 200) return ToGrpc(code, body);
    const json metadata = json::parse(body);
    response->set_name(metadata["name"]);
    response->set_platform(metadata["platform"]);
    for (const json& v : metadata["versions"]) response->add_versions(v.get<std::string>());
    for (const char* role : {"inputs", "outputs"}) {
      for (const json& t : metadata[role]) {
        auto* tensor =
            std::string(role) == "inputs" ? response->add_inputs() : response->add_outputs();
        tensor->set_name(t["name"]);
        tensor->set_datatype(t["datatype"]);
        for (const json& d : t["shape"]) tensor->add_shape(d.get<int64_t>());
      }
    }
    return grpc::Status::OK;
  }

  // As the HTTP binary extension: the tensors' metadata as JSON, their bytes after it, and every
  // output asked for as bytes (raw_output_contents).
  grpc::Status ModelInfer(grpc::ServerContext*, const inference::ModelInferRequest* request,
                          inference::ModelInferResponse* response) override {
    const bool raw = request->raw_input_contents_size() > 0;
    if (raw && request->raw_input_contents_size() != request->inputs_size()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "raw_input_contents has " +
                              std::to_string(request->raw_input_contents_size()) + " tensors for " +
                              std::to_string(request->inputs_size()) + " inputs");
    }
    json body = {{"inputs", json::array()}};
    if (!request->id().empty()) body["id"] = request->id();
    std::string binary;
    for (int i = 0; i < request->inputs_size(); ++i) {
      const auto& in = request->inputs(i);
      std::string bytes;
      if (raw) {
        bytes = request->raw_input_contents(i);
      } else if (!ContentsAsBytes(in.datatype(), in.contents(), &bytes)) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "input '" + in.name() + "': datatype '" + in.datatype() +
                                "' is not one kiln serve takes");
      }
      body["inputs"].push_back(
          {{"name", in.name()},
           {"datatype", in.datatype()},
           {"shape", std::vector<int64_t>(in.shape().begin(), in.shape().end())},
           {"parameters", {{"binary_data_size", bytes.size()}}}});
      binary += bytes;
    }
    if (request->outputs_size() > 0) {
      body["outputs"] = json::array();
      for (const auto& out : request->outputs())
        body["outputs"].push_back({{"name", out.name()}, {"parameters", {{"binary_data", true}}}});
    } else {
      body["parameters"] = {{"binary_data_output", true}};
    }
    const std::string header = body.dump();
    std::string answer;
    int64_t binary_header = -1;
    const int code = server_.Handle(
        "POST", ModelPath(request->model_name(), request->model_version()) + "/infer",
        header + binary, static_cast<int64_t>(header.size()), &answer, &binary_header);
    if (code != 200) return ToGrpc(code, answer);
    const json result = json::parse(answer.substr(0, static_cast<size_t>(binary_header)));
    response->set_model_name(result["model_name"]);
    response->set_model_version(result["model_version"]);
    if (result.contains("id")) response->set_id(result["id"]);
    size_t at = static_cast<size_t>(binary_header);
    for (const json& o : result["outputs"]) {
      auto* out = response->add_outputs();
      out->set_name(o["name"]);
      out->set_datatype(o["datatype"]);
      for (const json& d : o["shape"]) out->add_shape(d.get<int64_t>());
      const size_t n = o["parameters"]["binary_data_size"];
      response->add_raw_output_contents(answer.substr(at, n));
      at += n;
    }
    return grpc::Status::OK;
  }

 private:
  int Call(const std::string& method, const std::string& path, const std::string& body,
           int64_t json_bytes, std::string* answer) {
    int64_t binary_header = -1;
    return server_.Handle(method, path, body, json_bytes, answer, &binary_header);
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
