#include "serving/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>
#include <type_traits>

#include "nlohmann/json.hpp"
#include "runtime/dnnl_kernels.h"
#include "runtime/kiln_model.h"
#include "serving/grpc_service.h"
#include "simdjson.h"

namespace kiln {
namespace serving {
namespace {

using json = nlohmann::json;

constexpr char kSignature[] = "serving_default";

// The Open Inference Protocol's datatype names for Kiln's dtypes.
const char* DataType(kiln_dtype dtype) {
  switch (dtype) {
    case KILN_F32: return "FP32";
    case KILN_F64: return "FP64";
    case KILN_F16: return "FP16";
    case KILN_BF16: return "BF16";
    case KILN_I8: return "INT8";
    case KILN_I32: return "INT32";
    case KILN_I64: return "INT64";
    case KILN_BOOL: return "BOOL";
  }
  return "?";
}

// The dtype of an Open Inference Protocol datatype name, or null.
const kiln_dtype* DtypeNamed(const std::string& name) {
  static const kiln_dtype kDtypes[] = {KILN_F32, KILN_F64, KILN_F16, KILN_BF16,
                                       KILN_I8,  KILN_I32, KILN_I64, KILN_BOOL};
  for (const kiln_dtype& d : kDtypes) {
    if (name == DataType(d)) return &d;
  }
  return nullptr;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Error(int code, const std::string& message, std::string* response) {
  *response = json{{"error", message}}.dump();
  return code;
}

// A path's non-empty components: "/v2/models/m/infer" → v2, models, m, infer.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// The arguments of one role, in call order.
std::vector<const kiln_model_arg*> Args(const kiln_model_info& info, kiln_arg_role role) {
  std::vector<const kiln_model_arg*> args;
  for (int i = 0; i < info.num_args; ++i) {
    if (info.args[i].role == role) args.push_back(&info.args[i]);
  }
  return args;
}

TensorInfo Describe(const kiln_model_arg& a) {
  std::vector<int64_t> shape(a.dims, a.dims + a.rank);
  if (!shape.empty()) shape[0] = -1;  // the batch: any size up to the largest compiled
  return {a.name, DataType(a.dtype), shape};
}

template <typename T>
void Write(T v, char* out) {
  std::memcpy(out, &v, sizeof v);
}

template <typename T>
T Read(const char* in) {
  T v;
  std::memcpy(&v, in, sizeof v);
  return v;
}

// A number as an element of `dtype`, and back.
void Store(kiln_dtype dtype, double v, char* out) {
  switch (dtype) {
    case KILN_F32: return Write(static_cast<float>(v), out);
    case KILN_F64: return Write(v, out);
    case KILN_I32: return Write(static_cast<int32_t>(v), out);
    case KILN_I64: return Write(static_cast<int64_t>(v), out);
    case KILN_I8: return Write(static_cast<int8_t>(v), out);
    case KILN_BOOL: return Write(static_cast<uint8_t>(v != 0), out);
    default: return;
  }
}

// Appends the numbers of a (possibly nested) JSON array, row-major, as elements of `dtype`; false
// for anything else. (64-bit integers go in exactly, not through a double.)
bool Flatten(simdjson::dom::element data, kiln_dtype dtype, std::string* out) {
  using simdjson::dom::element_type;
  const size_t size = kiln_dtype_size(dtype);
  auto append = [&](auto v) {
    out->resize(out->size() + size);
    if (dtype == KILN_I64 && std::is_integral<decltype(v)>::value) {
      Write(static_cast<int64_t>(v), &(*out)[out->size() - size]);
    } else {
      Store(dtype, static_cast<double>(v), &(*out)[out->size() - size]);
    }
    return true;
  };
  switch (data.type()) {
    case element_type::ARRAY:
      for (simdjson::dom::element e : simdjson::dom::array(data)) {
        if (!Flatten(e, dtype, out)) return false;
      }
      return true;
    case element_type::DOUBLE: return append(double(data));
    case element_type::INT64: return append(int64_t(data));
    case element_type::UINT64: return append(uint64_t(data));
    case element_type::BOOL: return append(bool(data) ? 1 : 0);
    default: return false;
  }
}

json Load(kiln_dtype dtype, const char* in) {
  switch (dtype) {
    case KILN_F32: return Read<float>(in);
    case KILN_F64: return Read<double>(in);
    case KILN_I32: return Read<int32_t>(in);
    case KILN_I64: return Read<int64_t>(in);
    case KILN_I8: return Read<int8_t>(in);
    case KILN_BOOL: return in[0] != 0;
    default: return nullptr;
  }
}

// A context per request thread, prepared once per signature it runs.
struct ThreadContext {
  rt::Context context{kiln_dnnl_context_create(1)};
  std::set<std::pair<const rt::Bundle*, int>> prepared;
};

rt::Context& ContextFor(const rt::Bundle& bundle, int signature) {
  thread_local ThreadContext t;
  if (t.prepared.insert({&bundle, signature}).second) bundle.Prepare(signature, t.context);
  return t.context;
}

// Runs `rows` rows (inputs[i]: input i's rows, row-major) on the smallest compiled batch that holds
// them, the other rows zero; outputs[o] gets output o's rows. Inputs that fill the batch are run
// in place, and outputs are written where the caller gets them.
rt::Status RunRows(const ModelVersion& model, const std::vector<std::string>& inputs, int64_t rows,
                   std::vector<std::string>* outputs, int64_t* run_batch) {
  const rt::Bundle& bundle = *model.bundle;
  const int sig = bundle.FindBatch(kSignature, rows);
  if (sig < 0) return rt::InvalidArgumentError("no compiled batch holds " + std::to_string(rows));
  *run_batch = bundle.batch_size(sig);
  const kiln_model_info& info = bundle.signature(sig);
  const std::vector<const kiln_model_arg*> run_in = Args(info, KILN_ROLE_INPUT);
  const std::vector<const kiln_model_arg*> run_out = Args(info, KILN_ROLE_OUTPUT);
  std::vector<std::string> padded(run_in.size());
  std::vector<const void*> in_ptrs;
  std::vector<void*> out_ptrs;
  for (size_t i = 0; i < run_in.size(); ++i) {
    if (inputs[i].size() == run_in[i]->bytes) {
      in_ptrs.push_back(inputs[i].data());
      continue;
    }
    padded[i].assign(run_in[i]->bytes, '\0');  // rows past the request's stay zero
    std::memcpy(&padded[i][0], inputs[i].data(), std::min(inputs[i].size(), padded[i].size()));
    in_ptrs.push_back(padded[i].data());
  }
  outputs->resize(run_out.size());
  for (size_t o = 0; o < run_out.size(); ++o) {
    (*outputs)[o].resize(run_out[o]->bytes);
    out_ptrs.push_back(&(*outputs)[o][0]);
  }
  KILN_RT_RETURN_IF_ERROR(bundle.Run(sig, in_ptrs, out_ptrs, ContextFor(bundle, sig)));
  for (size_t o = 0; o < run_out.size(); ++o) {
    const size_t row_bytes = run_out[o]->bytes / static_cast<size_t>(*run_batch);
    (*outputs)[o].resize(row_bytes * static_cast<size_t>(rows));
  }
  return rt::OkStatus();
}

Reply Fault(int code, std::string message) { return Reply{code, std::move(message)}; }

std::string ShapeText(const std::vector<int64_t>& shape) { return json(shape).dump(); }

Reply NotFound(const std::string& model, int64_t version) {
  return Fault(404, version == 0 ? "unknown model '" + model + "'"
                                 : "unknown version " + std::to_string(version) + " of model '" +
                                       model + "'");
}

// What answering an infer needs once its rows have run.
struct InferCall {
  std::shared_ptr<const ModelVersion> model;
  std::string id;
  std::vector<const kiln_model_arg*> outputs;
  std::vector<bool> wanted;
  int64_t rows = 0;
  std::chrono::steady_clock::time_point start;
};

// Checks `request` against the model's serving signature: every input once, by name, with its
// datatype, a shape that differs only in the batch, and as many bytes as that shape takes; the
// batch within the compiled sizes; the outputs asked for known. Fills `call`, and moves each
// input's bytes into `inputs`, in the signature's order.
Reply Check(const std::shared_ptr<const ModelVersion>& model_ptr, InferRequest& request,
            InferCall* call, std::vector<std::string>* inputs) {
  const ModelVersion& model = *model_ptr;
  const kiln_model_info& info = model.bundle->signature(model.bundle->Find(kSignature));
  const std::vector<const kiln_model_arg*> args = Args(info, KILN_ROLE_INPUT);
  const std::vector<const kiln_model_arg*> outputs = Args(info, KILN_ROLE_OUTPUT);
  std::vector<Tensor*> given(args.size(), nullptr);
  for (Tensor& t : request.inputs) {
    auto known = std::find_if(args.begin(), args.end(),
                              [&](const kiln_model_arg* a) { return t.name == a->name; });
    if (known == args.end())
      return Fault(400, "unknown input '" + t.name + "' for model '" + model.name + "'");
    Tensor*& slot = given[known - args.begin()];
    if (slot != nullptr) return Fault(400, "input '" + t.name + "' twice");
    slot = &t;
  }
  int64_t batch = -1;
  inputs->assign(args.size(), std::string());
  for (size_t i = 0; i < args.size(); ++i) {
    const kiln_model_arg& a = *args[i];
    const std::string what = std::string("input '") + a.name + "'";
    if (given[i] == nullptr) return Fault(400, what + " is missing");
    Tensor& t = *given[i];
    if (t.datatype != DataType(a.dtype))
      return Fault(400, what + " must have datatype " + DataType(a.dtype));
    const TensorInfo want = Describe(a);
    if (t.shape.size() != want.shape.size() || want.shape.empty() ||
        !std::equal(want.shape.begin() + 1, want.shape.end(), t.shape.begin() + 1) ||
        t.shape[0] < 0) {
      return Fault(400, what + " has shape " + ShapeText(t.shape) + ", the model takes " +
                            ShapeText(want.shape));
    }
    if (batch >= 0 && t.shape[0] != batch) return Fault(400, "the inputs' batch sizes differ");
    batch = t.shape[0];
    int64_t elements = 1;
    for (int64_t d : t.shape) elements *= d;
    if (t.data.size() != static_cast<size_t>(elements) * kiln_dtype_size(a.dtype)) {
      return Fault(400, what + " has " + std::to_string(t.data.size()) +
                            " bytes of binary data for shape " + ShapeText(t.shape));
    }
    (*inputs)[i] = std::move(t.data);
  }
  if (batch < 1 || batch > model.max_batch) {
    return Fault(400, "batch size " + std::to_string(batch) + " is outside 1 to " +
                          std::to_string(model.max_batch) + " (the largest compiled)");
  }
  std::vector<bool> wanted(outputs.size(), request.outputs.empty());
  for (const std::string& name : request.outputs) {
    auto known = std::find_if(outputs.begin(), outputs.end(),
                              [&](const kiln_model_arg* a) { return name == a->name; });
    if (known == outputs.end())
      return Fault(400, "unknown output '" + name + "' for model '" + model.name + "'");
    wanted[known - outputs.begin()] = true;
  }
  call->model = model_ptr;
  call->id = std::move(request.id);
  call->outputs = outputs;
  call->wanted = std::move(wanted);
  call->rows = batch;
  return Reply{};
}

// The answer of a call whose rows ran with status `s` and gave `outputs_bytes`.
Reply Answer(InferCall& call, const rt::Status& s, std::vector<std::string> outputs_bytes,
             InferResponse* response) {
  if (!s.ok()) return Fault(s.code() == KILN_OUT_OF_RANGE ? 400 : 500, s.ToString());
  response->model_name = call.model->name;
  response->model_version = call.model->version;
  response->id = std::move(call.id);
  for (size_t o = 0; o < call.outputs.size(); ++o) {
    if (!call.wanted[o]) continue;
    TensorInfo info = Describe(*call.outputs[o]);
    if (!info.shape.empty()) info.shape[0] = call.rows;
    response->outputs.push_back({std::move(info.name), std::move(info.datatype),
                                 std::move(info.shape), std::move(outputs_bytes[o])});
  }
  return Reply{};
}

// HTTP: which outputs are answered as binary (the binary tensor extension), not JSON numbers.
struct HttpOutputs {
  bool all_binary = false;
  std::set<std::string> binary;
};

// An infer request's HTTP body: JSON, or with the binary tensor extension `json_bytes`
// (Inference-Header-Content-Length, -1 without it) of JSON followed by the binary tensors in
// input order. JSON numbers become the elements of the datatype given with them.
Reply FromJson(const std::string& body, int64_t json_bytes, InferRequest* request,
               HttpOutputs* http) {
  namespace dom = simdjson::dom;
  if (json_bytes > static_cast<int64_t>(body.size()))
    return Fault(400, "Inference-Header-Content-Length is over the body's size");
  const size_t json_size = json_bytes >= 0 ? static_cast<size_t>(json_bytes) : body.size();
  size_t binary_at = json_size;
  // simdjson, not nlohmann/json, for requests: 784 numbers parse in ~6 µs instead of ~80.
  thread_local dom::parser parser;
  dom::object parsed;
  if (parser.parse(body.data(), json_size).get_object().get(parsed))
    return Fault(400, "the request body is not a JSON object");
  dom::array inputs;
  if (parsed["inputs"].get_array().get(inputs))
    return Fault(400, "the request has no \"inputs\" array");
  dom::element id;
  if (!parsed["id"].get(id)) {
    request->id = id.is_string() ? std::string(std::string_view(id)) : simdjson::minify(id);
  }
  for (dom::element in : inputs) {
    std::string_view name;
    if (in["name"].get_string().get(name)) return Fault(400, "an input without a \"name\"");
    Tensor t;
    t.name = std::string(name);
    const std::string what = "input '" + t.name + "'";
    std::string_view datatype;
    if (!in["datatype"].get_string().get(datatype)) t.datatype = std::string(datatype);
    dom::array shape;
    if (in["shape"].get_array().get(shape)) return Fault(400, what + " has no \"shape\"");
    int64_t elements = 1;
    for (dom::element d : shape) {
      int64_t n = 0;
      if (d.get_int64().get(n) || n < 0) return Fault(400, what + ": a bad shape");
      t.shape.push_back(n);
      elements *= n;
    }
    const kiln_dtype* dtype = DtypeNamed(t.datatype);
    dom::element binary;
    if (!in["parameters"]["binary_data_size"].get(binary)) {
      // Raw little-endian elements, checked against the shape by Check.
      uint64_t n = 0;
      if (binary.get_uint64().get(n) || json_bytes < 0 || n > body.size() - binary_at)
        return Fault(400, what + ": binary_data_size is not a size within the body");
      t.data.assign(body, binary_at, n);
      binary_at += n;
    } else if (dtype != nullptr) {  // an unknown datatype is Check's error
      dom::element data;
      if (in["data"].get(data) || !Flatten(data, *dtype, &t.data))
        return Fault(400, what + ": \"data\" is not an array of numbers");
      const size_t values = t.data.size() / kiln_dtype_size(*dtype);
      if (static_cast<int64_t>(values) != elements) {
        return Fault(400, what + " has " + std::to_string(values) + " values for shape " +
                              ShapeText(t.shape));
      }
    }
    request->inputs.push_back(std::move(t));
  }
  bool all_binary = false;
  if (!parsed["parameters"]["binary_data_output"].get(all_binary)) http->all_binary = all_binary;
  dom::element outputs;
  if (!parsed["outputs"].get(outputs)) {
    if (!outputs.is_array()) return Fault(400, "\"outputs\" is not an array");
    for (dom::element o : dom::array(outputs)) {
      std::string_view name;
      if (o["name"].get_string().get(name)) name = "";
      request->outputs.emplace_back(name);
      bool binary_output = false;
      if (!o["parameters"]["binary_data"].get(binary_output) && binary_output)
        http->binary.emplace(name);
    }
  }
  return Reply{};
}

// The HTTP answer: JSON, then the binary outputs when *binary_header is set to the JSON's length.
void ToJson(const InferResponse& answer, const HttpOutputs& http, std::string* response,
            int64_t* binary_header) {
  json result = {{"model_name", answer.model_name},
                 {"model_version", std::to_string(answer.model_version)}};
  if (!answer.id.empty()) result["id"] = answer.id;
  result["outputs"] = json::array();
  std::string binary;
  for (const Tensor& t : answer.outputs) {
    json output = {{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}};
    if (http.all_binary || http.binary.count(t.name)) {
      output["parameters"] = {{"binary_data_size", t.data.size()}};
      binary += t.data;
    } else {
      const kiln_dtype dtype = *DtypeNamed(t.datatype);
      const size_t size = kiln_dtype_size(dtype);
      json data = json::array();
      for (size_t e = 0; e < t.data.size(); e += size) data.push_back(Load(dtype, &t.data[e]));
      output["data"] = std::move(data);
    }
    result["outputs"].push_back(std::move(output));
  }
  *response = result.dump();
  *binary_header = -1;
  if (!binary.empty()) {
    *binary_header = static_cast<int64_t>(response->size());
    *response += binary;
  }
}

// Whether `path` is /v2/models/{m}[/versions/{v}]/infer with a good version; its model and
// version (0: the highest).
bool InferPath(const std::string& path, std::string* model, int64_t* version) {
  const std::vector<std::string> parts = SplitPath(path);
  *version = 0;
  if (parts.size() == 6 && parts[3] == "versions") {
    *version = ParseVersion(parts[4]);
    if (*version == 0) return false;
  } else if (parts.size() != 4) {
    return false;
  }
  if (parts[0] != "v2" || parts[1] != "models" || parts.back() != "infer") return false;
  *model = parts[2];
  return true;
}

// Per connection: the request body as it arrives.
struct Upload {
  std::string body;
  bool too_large = false;
  // A batched request's answer, set while the connection is suspended.
  bool answered = false;
  int code = 0;
  std::string response;
  int64_t binary_header = -1;
};

MHD_Result Send(MHD_Connection* connection, int code, const std::string& body,
                int64_t binary_header) {
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (binary_header >= 0) {
    MHD_add_response_header(response, "Content-Type", "application/octet-stream");
    MHD_add_response_header(response, "Inference-Header-Content-Length",
                            std::to_string(binary_header).c_str());
  } else if (!body.empty()) {
    MHD_add_response_header(response, "Content-Type", "application/json");
  }
  MHD_Result result = MHD_queue_response(connection, static_cast<unsigned>(code), response);
  MHD_destroy_response(response);
  return result;
}

}  // namespace

const std::vector<std::string>& Extensions() {
  static const std::vector<std::string> kExtensions = {"binary_tensor_data", "statistics"};
  return kExtensions;
}

int64_t ParseVersion(const std::string& v) {
  if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), ::isdigit)) return 0;
  return std::stoll(v);
}

// The model's config.json, if it has one: {"dynamic_batching": {"max_queue_delay_microseconds":
// N}, "instances": N}. Dynamic batching gives the version a batcher; without it each request runs
// on its own.
rt::Status Configure(const std::filesystem::path& path, ModelVersion* model) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return rt::OkStatus();
  std::ifstream in(path);
  const json config = json::parse(in, nullptr, /*allow_exceptions=*/false);
  const std::string where = path.string() + ": ";
  if (config.is_discarded() || !config.is_object())
    return rt::InvalidArgumentError(where + "not a JSON object");
  for (const auto& [key, value] : config.items()) {
    if (key != "dynamic_batching" && key != "instances")
      return rt::InvalidArgumentError(where + "unknown setting '" + key + "'");
  }
  int64_t instances = 1, delay_us = 0;
  if (config.contains("instances")) {
    if (!config["instances"].is_number_integer() || config["instances"] < 1 ||
        config["instances"] > 64)
      return rt::InvalidArgumentError(where + "\"instances\" must be 1 to 64");
    instances = config["instances"];
  }
  if (!config.contains("dynamic_batching")) return rt::OkStatus();
  const json& batching = config["dynamic_batching"];
  if (!batching.is_object())
    return rt::InvalidArgumentError(where + "\"dynamic_batching\" is not an object");
  for (const auto& [key, value] : batching.items()) {
    if (key != "max_queue_delay_microseconds")
      return rt::InvalidArgumentError(where + "unknown dynamic_batching setting '" + key + "'");
    if (!value.is_number_integer() || value < 0 || value > 10000000)
      return rt::InvalidArgumentError(where + "max_queue_delay_microseconds must be 0 to 10000000");
    delay_us = value;
  }
  const rt::Bundle& bundle = *model->bundle;
  const kiln_model_info& info = bundle.signature(bundle.Find(kSignature));
  std::vector<size_t> row_bytes;
  const int64_t batch = bundle.batch_size(bundle.Find(kSignature));
  for (const kiln_model_arg* a : Args(info, KILN_ROLE_OUTPUT))
    row_bytes.push_back(a->bytes / static_cast<size_t>(batch));
  model->batcher = std::make_unique<Batcher>(
      [model](const std::vector<std::string>& inputs, int64_t rows,
              std::vector<std::string>* outputs,
              int64_t* run_batch) { return RunRows(*model, inputs, rows, outputs, run_batch); },
      row_bytes, model->max_batch, std::chrono::microseconds(delay_us),
      static_cast<int>(instances));
  return rt::OkStatus();
}

rt::StatusOr<std::unique_ptr<Repository>> Repository::Load(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::is_directory(dir, error))
    return rt::NotFoundError("model repository '" + dir + "' is not a directory");
  std::unique_ptr<Repository> repository(new Repository(dir));
  std::vector<std::string> changes;
  (void)repository->Scan(/*strict=*/false, &changes);
  // A file that does not open (one a crash left half-copied) is reported and retried by polling,
  // and the others are served; a repository of which nothing loads is an error.
  if (repository->models_.empty() && !repository->failed_.empty()) {
    return rt::FailedPreconditionError("no model loaded: " + repository->failed_.begin()->second);
  }
  for (const std::string& change : changes) {
    if (change.rfind("not loaded", 0) == 0)
      std::fprintf(stderr, "kiln serve: %s\n", change.c_str());
  }
  return repository;
}

std::vector<std::string> Repository::Poll() {
  std::vector<std::string> changes;
  (void)Scan(/*strict=*/false, &changes);  // a bad file is reported in `changes`, once
  return changes;
}

rt::Status Repository::Scan(bool strict, std::vector<std::string>* changes) {
  namespace fs = std::filesystem;
  std::error_code error;
  // What the directory holds now: model → version → file.
  std::map<std::string, std::map<int64_t, fs::path>> present;
  for (const fs::directory_entry& model : fs::directory_iterator(dir_, error)) {
    if (!model.is_directory(error)) continue;
    for (const fs::directory_entry& version : fs::directory_iterator(model.path(), error)) {
      const int64_t v = ParseVersion(version.path().filename().string());
      if (!version.is_directory(error) || v == 0) continue;
      const fs::path file = version.path() / "model.kiln";
      if (fs::is_regular_file(file, error)) present[model.path().filename().string()][v] = file;
    }
  }
  // Load what is new or changed (outside the lock: opening takes a while).
  struct Update {
    std::string model;
    int64_t version;
    Loaded loaded;
  };
  std::vector<Update> updates;
  for (const auto& [name, versions] : present) {
    for (const auto& [version, file] : versions) {
      const int64_t size = static_cast<int64_t>(fs::file_size(file, error));
      const int64_t time =
          static_cast<int64_t>(fs::last_write_time(file, error).time_since_epoch().count());
      {
        std::lock_guard<std::mutex> lock(mutex_);
        auto m = models_.find(name);
        if (m != models_.end()) {
          auto v = m->second.find(version);
          if (v != m->second.end() && v->second.file_size == size && v->second.file_time == time)
            continue;  // unchanged
        }
      }
      rt::StatusOr<std::unique_ptr<rt::Bundle>> bundle =
          rt::Bundle::Open(file.string(), kiln_dnnl_symbols);
      std::unique_ptr<ModelVersion> loaded;
      rt::Status s = bundle.status();
      if (bundle.ok()) {
        loaded = std::make_unique<ModelVersion>();
        loaded->name = name;
        loaded->version = version;
        loaded->bundle = std::move(*bundle);
        for (int i = 0; i < loaded->bundle->num_signatures(); ++i) {
          if (loaded->bundle->name(i) == kSignature)
            loaded->max_batch = std::max(loaded->max_batch, loaded->bundle->batch_size(i));
        }
        if (loaded->max_batch == 0)
          s = rt::FailedPreconditionError(file.string() + ": no serving_default signature");
        if (s.ok()) s = Configure(fs::path(dir_) / name / "config.json", loaded.get());
      }
      if (!s.ok()) {
        if (strict) return s;
        std::lock_guard<std::mutex> lock(mutex_);
        if (failed_[file.string()] != s.message()) {
          failed_[file.string()] = s.message();
          changes->push_back("not loaded (will retry): " + s.ToString());
        }
        continue;
      }
      updates.push_back({name, version, {std::move(loaded), size, time}});
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (Update& u : updates) {
    failed_.erase((fs::path(dir_) / u.model / std::to_string(u.version) / "model.kiln").string());
    const bool replaced = models_[u.model].count(u.version) > 0;
    models_[u.model][u.version] = std::move(u.loaded);
    changes->push_back((replaced ? "reloaded " : "loaded ") + u.model + " version " +
                       std::to_string(u.version));
  }
  // Unload what is gone: requests in flight keep their version until they finish.
  for (auto m = models_.begin(); m != models_.end();) {
    for (auto v = m->second.begin(); v != m->second.end();) {
      if (present.count(m->first) && present[m->first].count(v->first)) {
        ++v;
        continue;
      }
      changes->push_back("unloaded " + m->first + " version " + std::to_string(v->first));
      v = m->second.erase(v);
    }
    m = m->second.empty() ? models_.erase(m) : std::next(m);
  }
  return rt::OkStatus();
}

std::shared_ptr<const ModelVersion> Repository::Find(const std::string& model,
                                                     int64_t version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto m = models_.find(model);
  if (m == models_.end() || m->second.empty()) return nullptr;
  if (version == 0) return m->second.rbegin()->second.model;
  auto v = m->second.find(version);
  return v == m->second.end() ? nullptr : v->second.model;
}

std::vector<int64_t> Repository::Versions(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<int64_t> versions;
  auto m = models_.find(model);
  if (m != models_.end()) {
    for (const auto& [v, _] : m->second) versions.push_back(v);
  }
  return versions;
}

std::vector<std::string> Repository::Models() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, _] : models_) names.push_back(name);
  return names;
}

void Server::Infer(InferRequest request, InferDone done) const {
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<const ModelVersion> model = repository_.Find(request.model, request.version);
  if (model == nullptr) return done(NotFound(request.model, request.version), InferResponse());
  auto call = std::make_shared<InferCall>();
  call->start = start;
  std::vector<std::string> inputs;
  const Reply checked = Check(model, request, call.get(), &inputs);
  if (!checked.ok()) {
    Failed(model->name, model->version, start);
    return done(checked, InferResponse());
  }
  if (model->batcher != nullptr) {
    model->batcher->Submit(
        std::move(inputs), call->rows, [this, call, done = std::move(done)](Batcher::Result r) {
          InferResponse response;
          const Reply reply = Answer(*call, r.status, std::move(r.outputs), &response);
          metrics_.Record(call->model->name, call->model->version,
                          {reply.ok(), SecondsSince(call->start), r.queue_seconds,
                           r.compute_seconds, call->rows, r.run_batch, r.first});
          done(reply, std::move(response));
        });
    return;
  }
  std::vector<std::string> outputs;
  int64_t run_batch = 0;
  const auto run_start = std::chrono::steady_clock::now();
  const rt::Status s = RunRows(*model, inputs, call->rows, &outputs, &run_batch);
  const double compute_seconds = SecondsSince(run_start);
  InferResponse response;
  const Reply reply = Answer(*call, s, std::move(outputs), &response);
  metrics_.Record(
      model->name, model->version,
      {reply.ok(), SecondsSince(start), 0, compute_seconds, call->rows, run_batch, true});
  done(reply, std::move(response));
}

void Server::Failed(const std::string& model, int64_t version,
                    std::chrono::steady_clock::time_point start) const {
  std::shared_ptr<const ModelVersion> found = repository_.Find(model, version);
  if (found == nullptr) return;
  Metrics::Request r;
  r.seconds = SecondsSince(start);
  metrics_.Record(found->name, found->version, r);
}

bool Server::Batches(const std::string& model, int64_t version) const {
  std::shared_ptr<const ModelVersion> found = repository_.Find(model, version);
  return found != nullptr && found->batcher != nullptr;
}

Reply Server::Ready(const std::string& model, int64_t version) const {
  return repository_.Find(model, version) != nullptr ? Reply{} : NotFound(model, version);
}

Reply Server::Metadata(const std::string& model, int64_t version, ModelInfo* info) const {
  std::shared_ptr<const ModelVersion> found = repository_.Find(model, version);
  if (found == nullptr) return NotFound(model, version);
  const kiln_model_info& signature = found->bundle->signature(found->bundle->Find(kSignature));
  *info = ModelInfo{model, "kiln", {}, {}, {}};
  for (int64_t v : repository_.Versions(model)) info->versions.push_back(std::to_string(v));
  for (const kiln_model_arg* a : Args(signature, KILN_ROLE_INPUT))
    info->inputs.push_back(Describe(*a));
  for (const kiln_model_arg* a : Args(signature, KILN_ROLE_OUTPUT))
    info->outputs.push_back(Describe(*a));
  return Reply{};
}

Reply Server::Stats(const std::string& model, int64_t version,
                    std::vector<Metrics::ModelStats>* stats) const {
  if (!model.empty() && repository_.Find(model, version) == nullptr)
    return NotFound(model, version);
  *stats = metrics_.Stats(model, version);
  return Reply{};
}

int Server::Handle(const std::string& method, const std::string& path,
                   std::string* response) const {
  response->clear();
  const std::vector<std::string> parts = SplitPath(path);
  auto is = [&](std::initializer_list<const char*> p) {
    return parts.size() == p.size() && std::equal(p.begin(), p.end(), parts.begin());
  };
  if (parts.empty() || parts[0] != "v2") return Error(404, "no such path: " + path, response);
  const bool get = method == "GET";
  if (is({"v2"})) {
    if (!get) return Error(405, "GET " + path, response);
    *response =
        json{{"name", kServerName}, {"version", kServerVersion}, {"extensions", Extensions()}}
            .dump();
    return 200;
  }
  if (is({"v2", "health", "live"}) || is({"v2", "health", "ready"}))
    return get ? 200 : Error(405, "GET " + path, response);
  if (is({"v2", "models", "stats"})) {
    if (!get) return Error(405, "GET " + path, response);
    *response = metrics_.Statistics("", 0);
    return 200;
  }
  if (parts.size() < 3 || parts[1] != "models")
    return Error(404, "no such path: " + path, response);
  const std::string model = parts[2];
  int64_t version = 0;
  size_t next = 3;
  if (parts.size() > 4 && parts[3] == "versions") {
    version = ParseVersion(parts[4]);
    if (version == 0)
      return Error(400, "version '" + parts[4] + "' is not a positive integer", response);
    next = 5;
  }
  const std::string action = parts.size() > next ? parts[next] : "";
  if (parts.size() > next + 1 ||
      (action != "" && action != "ready" && action != "infer" && action != "stats"))
    return Error(404, "no such path: " + path, response);
  const Reply found = Ready(model, version);
  if (!found.ok()) return Error(found.code, found.error, response);
  // POST .../infer is answered before Handle; this is any other method.
  if (action == "infer") return Error(405, "POST " + path, response);
  if (!get) return Error(405, "GET " + path, response);
  if (action == "stats") {
    *response = metrics_.Statistics(model, version);
    return 200;
  }
  if (action == "ready") return 200;
  ModelInfo info;
  const Reply described = Metadata(model, version, &info);  // the version may just have gone
  if (!described.ok()) return Error(described.code, described.error, response);
  auto tensors = [](const std::vector<TensorInfo>& ts) {
    json out = json::array();
    for (const TensorInfo& t : ts)
      out.push_back({{"name", t.name}, {"datatype", t.datatype}, {"shape", t.shape}});
    return out;
  };
  *response = json{{"name", info.name},
                   {"platform", info.platform},
                   {"versions", info.versions},
                   {"inputs", tensors(info.inputs)},
                   {"outputs", tensors(info.outputs)}}
                  .dump();
  return 200;
}

rt::StatusOr<std::unique_ptr<Server>> Server::Start(Repository& repository,
                                                    const ServerOptions& options) {
  std::unique_ptr<Server> server(new Server(repository, options));
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(options.http_port));
  if (inet_pton(AF_INET, options.address.c_str(), &address.sin_addr) != 1)
    return rt::InvalidArgumentError("'" + options.address + "' is not an IPv4 address");
  auto handler = [](void* cls, MHD_Connection* connection, const char* url, const char* method,
                    const char*, const char* upload_data, size_t* upload_size,
                    void** con_cls) -> MHD_Result {
    const Server* self = static_cast<const Server*>(cls);
    auto* upload = static_cast<Upload*>(*con_cls);
    if (upload == nullptr) {  // the headers have arrived; the body follows in further calls
      *con_cls = new Upload();
      return MHD_YES;
    }
    if (*upload_size != 0) {
      if (upload->body.size() + *upload_size > self->options_.max_body_bytes) {
        upload->too_large = true;
        upload->body.clear();
      } else if (!upload->too_large) {
        upload->body.append(upload_data, *upload_size);
      }
      *upload_size = 0;
      return MHD_YES;
    }
    if (upload->answered)  // resumed: its batch has run
      return Send(connection, upload->code, upload->response, upload->binary_header);
    const auto start = std::chrono::steady_clock::now();
    std::string response;
    int64_t json_bytes = -1;
    const char* header =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    if (header != nullptr) {
      char* end = nullptr;
      json_bytes = std::strtoll(header, &end, 10);
      if (*header == '\0' || *end != '\0' || json_bytes < 0) {
        return Send(connection,
                    Error(400, "Inference-Header-Content-Length is not a size", &response),
                    response, -1);
      }
    }
    if (upload->too_large) {
      const int code = Error(
          413,
          "the request body is over " + std::to_string(self->options_.max_body_bytes) + " bytes",
          &response);
      return Send(connection, code, response, -1);
    }
    InferRequest request;
    if (std::string(method) != "POST" || !InferPath(url, &request.model, &request.version))
      return Send(connection, self->Handle(method, url, &response), response, -1);
    auto http = std::make_shared<HttpOutputs>();
    const Reply parsed = FromJson(upload->body, json_bytes, &request, http.get());
    if (!parsed.ok()) {
      const Reply known = self->Ready(request.model, request.version);  // 404 before 400
      const Reply& reply = known.ok() ? parsed : known;
      if (known.ok()) self->Failed(request.model, request.version, start);
      return Send(connection, Error(reply.code, reply.error, &response), response, -1);
    }
    upload->body.clear();
    if (!self->Batches(request.model, request.version)) {
      int code = 0;
      int64_t binary_header = -1;
      self->Infer(std::move(request), [&](Reply reply, InferResponse answer) {
        code = reply.ok() ? 200 : Error(reply.code, reply.error, &response);
        if (reply.ok()) ToJson(answer, *http, &response, &binary_header);
      });
      return Send(connection, code, response, binary_header);
    }
    // Suspended until the batch has run: the thread serves other connections meanwhile.
    MHD_suspend_connection(connection);
    ++self->suspended_;
    self->Infer(
        std::move(request), [self, connection, upload, http](Reply reply, InferResponse answer) {
          upload->code = reply.ok() ? 200 : Error(reply.code, reply.error, &upload->response);
          if (reply.ok()) ToJson(answer, *http, &upload->response, &upload->binary_header);
          upload->answered = true;
          MHD_resume_connection(connection);
          --self->suspended_;
        });
    return MHD_YES;
  };
  auto completed = [](void*, MHD_Connection*, void** con_cls, MHD_RequestTerminationCode) {
    delete static_cast<Upload*>(*con_cls);
    *con_cls = nullptr;
  };
  MHD_Daemon* daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC, 0,
      nullptr, nullptr, +handler, server.get(), MHD_OPTION_SOCK_ADDR, &address,
      MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned>(options.threads),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(options.connection_timeout_s),
      MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_NOTIFY_COMPLETED, +completed, nullptr,
      MHD_OPTION_END);
  if (daemon == nullptr) {
    return rt::UnavailableError("cannot listen on " + options.address + ":" +
                                std::to_string(options.http_port));
  }
  server->daemon_ = daemon;
  const MHD_DaemonInfo* info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr ? info->port : options.http_port;
  if (options.metrics_port >= 0) {
    auto metrics = [](void* cls, MHD_Connection* connection, const char* url, const char* method,
                      const char*, const char*, size_t* upload_size, void**) -> MHD_Result {
      const Server* self = static_cast<const Server*>(cls);
      if (*upload_size != 0) {  // no body is expected; drop it
        *upload_size = 0;
        return MHD_YES;
      }
      if (std::string(url) != "/metrics" || std::string(method) != "GET")
        return Send(connection, 404, json{{"error", "GET /metrics"}}.dump(), -1);
      const std::string text = self->metrics_.Prometheus();
      MHD_Response* response = MHD_create_response_from_buffer(
          text.size(), const_cast<char*>(text.data()), MHD_RESPMEM_MUST_COPY);
      MHD_add_response_header(response, "Content-Type", "text/plain; version=0.0.4");
      MHD_Result result = MHD_queue_response(connection, MHD_HTTP_OK, response);
      MHD_destroy_response(response);
      return result;
    };
    sockaddr_in metrics_address = address;
    metrics_address.sin_port = htons(static_cast<uint16_t>(options.metrics_port));
    MHD_Daemon* metrics_daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, nullptr, nullptr, +metrics,
        server.get(), MHD_OPTION_SOCK_ADDR, &metrics_address, MHD_OPTION_CONNECTION_TIMEOUT,
        static_cast<unsigned>(options.connection_timeout_s), MHD_OPTION_END);
    if (metrics_daemon == nullptr) {
      return rt::UnavailableError("cannot listen on " + options.address + ":" +
                                  std::to_string(options.metrics_port) + " (metrics)");
    }
    server->metrics_daemon_ = metrics_daemon;
    const MHD_DaemonInfo* m = MHD_get_daemon_info(metrics_daemon, MHD_DAEMON_INFO_BIND_PORT);
    server->metrics_port_ = m != nullptr ? m->port : options.metrics_port;
  }
  if (options.grpc_port >= 0) {
    rt::StatusOr<std::unique_ptr<GrpcEndpoint>> grpc =
        GrpcEndpoint::Start(*server, options.address, options.grpc_port);
    if (!grpc.ok()) return grpc.status();
    server->grpc_ = std::move(*grpc);
  }
  if (options.poll_seconds > 0) {
    Server* self = server.get();
    server->poller_ = std::thread([self] {
      std::unique_lock<std::mutex> lock(self->stop_mutex_);
      while (!self->stop_.wait_for(lock, std::chrono::duration<double>(self->options_.poll_seconds),
                                   [self] { return self->stopping_; })) {
        lock.unlock();
        for (const std::string& change : self->repository_.Poll())
          std::printf("kiln serve: %s\n", change.c_str());
        std::fflush(stdout);
        lock.lock();
      }
    });
  }
  return server;
}

void Server::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  if (poller_.joinable()) poller_.join();
  if (grpc_ != nullptr) grpc_->Stop();
  if (daemon_ != nullptr) {
    // No new connections; the suspended ones get their batch's answer first (MHD requires every
    // connection resumed before it stops).
    MHD_quiesce_daemon(static_cast<MHD_Daemon*>(daemon_));
    while (suspended_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    MHD_stop_daemon(static_cast<MHD_Daemon*>(daemon_));
  }
  if (metrics_daemon_ != nullptr) MHD_stop_daemon(static_cast<MHD_Daemon*>(metrics_daemon_));
  daemon_ = metrics_daemon_ = nullptr;
}

Server::Server(Repository& repository, const ServerOptions& options)
    : repository_(repository), options_(options) {}

Server::~Server() { Stop(); }

int Server::grpc_port() const { return grpc_ != nullptr ? grpc_->port() : -1; }

}  // namespace serving
}  // namespace kiln
