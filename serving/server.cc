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

#include "nlohmann/json.hpp"
#include "runtime/dnnl_kernels.h"
#include "runtime/kiln_model.h"
#include "serving/grpc_service.h"

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

// A model version's name (a directory's, a path's): a positive integer, or 0 for anything else.
int64_t ParseVersion(const std::string& v) {
  if (v.empty() || v.size() > 18 || !std::all_of(v.begin(), v.end(), ::isdigit)) return 0;
  return std::stoll(v);
}

// The arguments of one role, in call order.
std::vector<const kiln_model_arg*> Args(const kiln_model_info& info, kiln_arg_role role) {
  std::vector<const kiln_model_arg*> args;
  for (int i = 0; i < info.num_args; ++i) {
    if (info.args[i].role == role) args.push_back(&info.args[i]);
  }
  return args;
}

json TensorMetadata(const kiln_model_arg& a) {
  std::vector<int64_t> shape(a.dims, a.dims + a.rank);
  if (!shape.empty()) shape[0] = -1;  // the batch: any size up to the largest compiled
  return {{"name", a.name}, {"datatype", DataType(a.dtype)}, {"shape", shape}};
}

// Appends the numbers of a (possibly nested) JSON array, row-major; false for anything else.
bool Flatten(const json& data, std::vector<double>* out) {
  if (data.is_number() || data.is_boolean()) {
    out->push_back(data.is_boolean() ? data.get<bool>() : data.get<double>());
    return true;
  }
  if (!data.is_array()) return false;
  for (const json& e : data) {
    if (!Flatten(e, out)) return false;
  }
  return true;
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
// them, the other rows zero; outputs[o] gets output o's rows.
rt::Status RunRows(const ModelVersion& model, const std::vector<std::string>& inputs, int64_t rows,
                   std::vector<std::string>* outputs, int64_t* run_batch) {
  const rt::Bundle& bundle = *model.bundle;
  const int sig = bundle.FindBatch(kSignature, rows);
  if (sig < 0) return rt::InvalidArgumentError("no compiled batch holds " + std::to_string(rows));
  *run_batch = bundle.batch_size(sig);
  const kiln_model_info& info = bundle.signature(sig);
  const std::vector<const kiln_model_arg*> run_in = Args(info, KILN_ROLE_INPUT);
  const std::vector<const kiln_model_arg*> run_out = Args(info, KILN_ROLE_OUTPUT);
  std::vector<std::vector<char>> in_buffers, out_buffers;
  std::vector<const void*> in_ptrs;
  std::vector<void*> out_ptrs;
  for (size_t i = 0; i < run_in.size(); ++i) {
    in_buffers.emplace_back(run_in[i]->bytes, 0);  // rows past the request's stay zero
    std::memcpy(in_buffers.back().data(), inputs[i].data(),
                std::min(inputs[i].size(), static_cast<size_t>(run_in[i]->bytes)));
    in_ptrs.push_back(in_buffers.back().data());
  }
  for (const kiln_model_arg* a : run_out) {
    out_buffers.emplace_back(a->bytes, 0);
    out_ptrs.push_back(out_buffers.back().data());
  }
  KILN_RT_RETURN_IF_ERROR(bundle.Run(sig, in_ptrs, out_ptrs, ContextFor(bundle, sig)));
  outputs->clear();
  for (size_t o = 0; o < run_out.size(); ++o) {
    const size_t row_bytes = run_out[o]->bytes / static_cast<size_t>(*run_batch);
    outputs->emplace_back(out_buffers[o].data(), row_bytes * static_cast<size_t>(rows));
  }
  return rt::OkStatus();
}

// With the binary tensor extension, `json_bytes` (Inference-Header-Content-Length) of the body are
// JSON and the rest the binary tensors, in input order; *binary_header is set when the answer is
// JSON followed by binary outputs.
// What answering an infer needs once its rows have run.
struct InferCall {
  std::shared_ptr<const ModelVersion> model;
  json id;  // null: none given
  std::vector<const kiln_model_arg*> outputs;
  std::vector<bool> wanted, as_binary;
  int64_t rows = 0;
};

// The answer of a call whose rows ran with status `s` and gave `outputs_bytes`.
int Finish(const InferCall& call, const rt::Status& s,
           const std::vector<std::string>& outputs_bytes, std::string* response,
           int64_t* binary_header);

// Checks an infer request against the model (see Infer) and fills `call` and each input's bytes;
// 200, or the error's status with the answer in `response`.
int Prepare(const std::shared_ptr<const ModelVersion>& model_ptr, const std::string& body,
            int64_t json_bytes, InferCall* call, std::vector<std::string>* inputs_bytes,
            std::string* response) {
  const ModelVersion& model = *model_ptr;
  if (json_bytes > static_cast<int64_t>(body.size()))
    return Error(400, "Inference-Header-Content-Length is over the body's size", response);
  const std::string json_text = json_bytes >= 0 ? body.substr(0, json_bytes) : body;
  size_t binary_at = json_bytes >= 0 ? static_cast<size_t>(json_bytes) : body.size();
  const json request = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded() || !request.is_object())
    return Error(400, "the request body is not a JSON object", response);
  if (!request.contains("inputs") || !request["inputs"].is_array())
    return Error(400, "the request has no \"inputs\" array", response);
  const rt::Bundle& bundle = *model.bundle;
  const int first = bundle.Find(kSignature);
  const kiln_model_info& info = bundle.signature(first);
  const std::vector<const kiln_model_arg*> inputs = Args(info, KILN_ROLE_INPUT);
  const std::vector<const kiln_model_arg*> outputs = Args(info, KILN_ROLE_OUTPUT);

  // Each input, checked against the signature: name, datatype, shape (any batch), data.
  std::map<std::string, const json*> given;
  for (const json& in : request["inputs"]) {
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string())
      return Error(400, "an input without a \"name\"", response);
    const std::string name = in["name"];
    auto known = std::find_if(inputs.begin(), inputs.end(),
                              [&](const kiln_model_arg* a) { return name == a->name; });
    if (known == inputs.end())
      return Error(400, "unknown input '" + name + "' for model '" + model.name + "'", response);
    if (!given.emplace(name, &in).second) return Error(400, "input '" + name + "' twice", response);
  }
  int64_t batch = -1;
  std::vector<std::string> values(inputs.size());  // each input's elements, as the model's dtype
  std::vector<std::vector<int64_t>> shapes(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const kiln_model_arg& a = *inputs[i];
    auto it = given.find(a.name);
    if (it == given.end())
      return Error(400, std::string("input '") + a.name + "' is missing", response);
    const json& in = *it->second;
    if (!in.contains("datatype") || in["datatype"] != DataType(a.dtype)) {
      return Error(400,
                   std::string("input '") + a.name + "' must have datatype " + DataType(a.dtype),
                   response);
    }
    if (!in.contains("shape") || !in["shape"].is_array())
      return Error(400, std::string("input '") + a.name + "' has no \"shape\"", response);
    for (const json& d : in["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0)
        return Error(400, std::string("input '") + a.name + "': a bad shape", response);
      shapes[i].push_back(d.get<int64_t>());
    }
    std::vector<int64_t> want(a.dims, a.dims + a.rank);
    const bool rank_ok = shapes[i].size() == want.size() && !want.empty();
    if (!rank_ok || !std::equal(want.begin() + 1, want.end(), shapes[i].begin() + 1)) {
      std::vector<int64_t> shown = want;
      if (!shown.empty()) shown[0] = -1;
      return Error(400,
                   std::string("input '") + a.name + "' has shape " + json(shapes[i]).dump() +
                       ", the model takes " + json(shown).dump(),
                   response);
    }
    if (batch >= 0 && shapes[i][0] != batch)
      return Error(400, "the inputs' batch sizes differ", response);
    batch = shapes[i][0];
    int64_t elements = 1;
    for (int64_t d : shapes[i]) elements *= d;
    const size_t size = kiln_dtype_size(a.dtype);
    const json* binary = in.contains("parameters") && in["parameters"].is_object() &&
                                 in["parameters"].contains("binary_data_size")
                             ? &in["parameters"]["binary_data_size"]
                             : nullptr;
    if (binary != nullptr) {  // the binary tensor extension: raw little-endian elements
      if (!binary->is_number_unsigned() || json_bytes < 0 ||
          binary->get<uint64_t>() > body.size() - binary_at) {
        return Error(
            400,
            std::string("input '") + a.name + "': binary_data_size is not a size within the body",
            response);
      }
      const uint64_t n = binary->get<uint64_t>();
      if (n != static_cast<uint64_t>(elements) * size) {
        return Error(400,
                     std::string("input '") + a.name + "' has " + std::to_string(n) +
                         " bytes of binary data for shape " + json(shapes[i]).dump(),
                     response);
      }
      values[i] = body.substr(binary_at, n);
      binary_at += n;
      continue;
    }
    std::vector<double> numbers;
    if (!in.contains("data") || !Flatten(in["data"], &numbers))
      return Error(400, std::string("input '") + a.name + "': \"data\" is not an array of numbers",
                   response);
    if (static_cast<int64_t>(numbers.size()) != elements) {
      return Error(400,
                   std::string("input '") + a.name + "' has " + std::to_string(numbers.size()) +
                       " values for shape " + json(shapes[i]).dump(),
                   response);
    }
    values[i].resize(numbers.size() * size);
    for (size_t e = 0; e < numbers.size(); ++e) Store(a.dtype, numbers[e], &values[i][e * size]);
  }
  if (batch < 1 || batch > model.max_batch) {
    return Error(400,
                 "batch size " + std::to_string(batch) + " is outside 1 to " +
                     std::to_string(model.max_batch) + " (the largest compiled)",
                 response);
  }
  // Requested outputs (all by default).
  const bool all_binary = request.contains("parameters") && request["parameters"].is_object() &&
                          request["parameters"].value("binary_data_output", false);
  std::vector<bool> wanted(outputs.size(), !request.contains("outputs"));
  std::vector<bool> as_binary(outputs.size(), all_binary);
  if (request.contains("outputs")) {
    if (!request["outputs"].is_array()) return Error(400, "\"outputs\" is not an array", response);
    for (const json& o : request["outputs"]) {
      const std::string name = o.is_object() && o.contains("name") && o["name"].is_string()
                                   ? o["name"].get<std::string>()
                                   : "";
      auto known = std::find_if(outputs.begin(), outputs.end(),
                                [&](const kiln_model_arg* a) { return name == a->name; });
      if (known == outputs.end())
        return Error(400, "unknown output '" + name + "' for model '" + model.name + "'", response);
      wanted[known - outputs.begin()] = true;
      if (o.contains("parameters") && o["parameters"].is_object() &&
          o["parameters"].value("binary_data", false)) {
        as_binary[known - outputs.begin()] = true;
      }
    }
  }

  call->model = model_ptr;
  call->id = request.contains("id") ? request["id"] : json();
  call->outputs = outputs;
  call->wanted = std::move(wanted);
  call->as_binary = std::move(as_binary);
  call->rows = batch;
  *inputs_bytes = std::move(values);
  return 200;
}

int Finish(const InferCall& call, const rt::Status& s,
           const std::vector<std::string>& outputs_bytes, std::string* response,
           int64_t* binary_header) {
  if (!s.ok()) return Error(s.code() == KILN_OUT_OF_RANGE ? 400 : 500, s.ToString(), response);
  const ModelVersion& model = *call.model;
  const std::vector<const kiln_model_arg*>& outputs = call.outputs;
  const std::vector<bool>& wanted = call.wanted;
  const std::vector<bool>& as_binary = call.as_binary;
  const int64_t batch = call.rows;
  json result = {{"model_name", model.name}, {"model_version", std::to_string(model.version)}};
  if (!call.id.is_null()) result["id"] = call.id;
  result["outputs"] = json::array();
  std::string binary;  // the binary outputs, after the JSON
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (!wanted[o]) continue;
    const kiln_model_arg& a = *outputs[o];
    std::vector<int64_t> shape(a.dims, a.dims + a.rank);
    int64_t per_row = 1;
    for (size_t d = 1; d < shape.size(); ++d) per_row *= shape[d];
    if (!shape.empty()) shape[0] = batch;
    const int64_t n = shape.empty() ? 1 : batch * per_row;
    const size_t size = kiln_dtype_size(a.dtype);
    json output = {{"name", a.name}, {"datatype", DataType(a.dtype)}, {"shape", shape}};
    if (as_binary[o]) {
      output["parameters"] = {{"binary_data_size", n * size}};
      binary.append(outputs_bytes[o].data(), n * size);
    } else {
      json data = json::array();
      for (int64_t e = 0; e < n; ++e)
        data.push_back(Load(a.dtype, outputs_bytes[o].data() + e * size));
      output["data"] = std::move(data);
    }
    result["outputs"].push_back(std::move(output));
  }
  *response = result.dump();
  if (!binary.empty()) {
    *binary_header = static_cast<int64_t>(response->size());
    *response += binary;
  }
  return 200;
}

// One infer request, run in the calling thread (or queued for its batch, waiting for it).
int Infer(const std::shared_ptr<const ModelVersion>& model, const std::string& body,
          int64_t json_bytes, std::string* response, int64_t* binary_header, int64_t* rows,
          int64_t* run_batch, double* queue_seconds, bool* executed) {
  InferCall call;
  std::vector<std::string> inputs;
  const int code = Prepare(model, body, json_bytes, &call, &inputs, response);
  if (code != 200) return code;
  *rows = call.rows;
  std::vector<std::string> outputs;
  rt::Status s;
  if (model->batcher != nullptr) {
    Batcher::Result r = model->batcher->Run(std::move(inputs), call.rows);
    s = r.status;
    outputs = std::move(r.outputs);
    *run_batch = r.run_batch;
    *queue_seconds = r.queue_seconds;
    *executed = r.first;
  } else {
    s = RunRows(*model, inputs, call.rows, &outputs, run_batch);
    *executed = true;
  }
  return Finish(call, s, outputs, response, binary_header);
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

std::shared_ptr<const ModelVersion> Server::BatchedTarget(const std::string& method,
                                                          const std::string& path) const {
  if (method != "POST") return nullptr;
  // /v2/models/{m}[/versions/{v}]/infer
  const std::vector<std::string> parts = SplitPath(path);
  int64_t version = 0;
  if (parts.size() == 6 && parts[3] == "versions") {
    version = ParseVersion(parts[4]);
    if (version == 0) return nullptr;
  } else if (parts.size() != 4) {
    return nullptr;
  }
  if (parts[0] != "v2" || parts[1] != "models" || parts.back() != "infer") return nullptr;
  std::shared_ptr<const ModelVersion> model = repository_.Find(parts[2], version);
  return model != nullptr && model->batcher != nullptr ? model : nullptr;
}

void Server::HandleBatched(std::shared_ptr<const ModelVersion> model, const std::string& body,
                           int64_t json_bytes, Done done) const {
  const auto start = std::chrono::steady_clock::now();
  auto call = std::make_shared<InferCall>();
  std::vector<std::string> inputs;
  std::string response;
  const int code = Prepare(model, body, json_bytes, call.get(), &inputs, &response);
  if (code != 200) {
    metrics_.Record(model->name, model->version, false,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                    0, 0, 0, false);
    done(code, std::move(response), -1);
    return;
  }
  model->batcher->Submit(
      std::move(inputs), call->rows, [this, call, start, done](Batcher::Result r) {
        std::string response;
        int64_t binary_header = -1;
        const int code = Finish(*call, r.status, r.outputs, &response, &binary_header);
        metrics_.Record(
            call->model->name, call->model->version, code == 200,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
            call->rows, r.run_batch, r.queue_seconds, r.first);
        done(code, std::move(response), binary_header);
      });
}

int Server::Handle(const std::string& method, const std::string& path, const std::string& body,
                   int64_t json_bytes, std::string* response, int64_t* binary_header) const {
  response->clear();
  *binary_header = -1;
  const std::vector<std::string> parts = SplitPath(path);
  auto is = [&](std::initializer_list<const char*> p) {
    return parts.size() == p.size() && std::equal(p.begin(), p.end(), parts.begin());
  };
  if (parts.empty() || parts[0] != "v2") return Error(404, "no such path: " + path, response);
  const bool get = method == "GET";
  if (is({"v2"})) {
    if (!get) return Error(405, "GET " + path, response);
    *response = json{{"name", "kiln"}, {"version", "0.1.0"}, {"extensions", json::array()}}.dump();
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
  const std::shared_ptr<const ModelVersion> found = repository_.Find(model, version);
  if (found == nullptr) {
    return Error(404,
                 version == 0
                     ? "unknown model '" + model + "'"
                     : "unknown version " + std::to_string(version) + " of model '" + model + "'",
                 response);
  }
  if (action == "infer") {
    if (method != "POST") return Error(405, "POST " + path, response);
    const auto start = std::chrono::steady_clock::now();
    int64_t rows = 0, run_batch = 0;
    double queue_seconds = 0;
    bool executed = false;
    const int code = Infer(found, body, json_bytes, response, binary_header, &rows, &run_batch,
                           &queue_seconds, &executed);
    metrics_.Record(found->name, found->version, code == 200,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(),
                    rows, run_batch, queue_seconds, executed);
    return code;
  }
  if (action == "stats") {
    if (!get) return Error(405, "GET " + path, response);
    *response = metrics_.Statistics(model, version);
    return 200;
  }
  if (!get) return Error(405, "GET " + path, response);
  if (action == "ready") return 200;
  const kiln_model_info& info = found->bundle->signature(found->bundle->Find(kSignature));
  json metadata = {{"name", model}, {"platform", "kiln"}, {"versions", json::array()}};
  for (int64_t v : repository_.Versions(model)) metadata["versions"].push_back(std::to_string(v));
  metadata["inputs"] = json::array();
  metadata["outputs"] = json::array();
  for (const kiln_model_arg* a : Args(info, KILN_ROLE_INPUT))
    metadata["inputs"].push_back(TensorMetadata(*a));
  for (const kiln_model_arg* a : Args(info, KILN_ROLE_OUTPUT))
    metadata["outputs"].push_back(TensorMetadata(*a));
  *response = metadata.dump();
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
    std::string response;
    int64_t json_bytes = -1, binary_header = -1;
    const char* header =
        MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Inference-Header-Content-Length");
    int code = 0;
    if (header != nullptr) {
      char* end = nullptr;
      json_bytes = std::strtoll(header, &end, 10);
      if (*header == '\0' || *end != '\0' || json_bytes < 0)
        code = Error(400, "Inference-Header-Content-Length is not a size", &response);
    }
    std::shared_ptr<const ModelVersion> batched =
        code == 0 && !upload->too_large ? self->BatchedTarget(method, url) : nullptr;
    if (batched != nullptr) {
      // Suspended until the batch has run: the thread serves other connections meanwhile.
      MHD_suspend_connection(connection);
      ++self->suspended_;
      self->HandleBatched(batched, upload->body, json_bytes,
                          [self, connection, upload](int c, std::string r, int64_t b) {
                            upload->code = c;
                            upload->response = std::move(r);
                            upload->binary_header = b;
                            upload->answered = true;
                            MHD_resume_connection(connection);
                            --self->suspended_;
                          });
      return MHD_YES;
    }
    if (code == 0) {
      code = upload->too_large
                 ? Error(413,
                         "the request body is over " +
                             std::to_string(self->options_.max_body_bytes) + " bytes",
                         &response)
                 : self->Handle(method, url, upload->body, json_bytes, &response, &binary_header);
    }
    return Send(connection, code, response, binary_header);
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
