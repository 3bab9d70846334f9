// An Open Inference Protocol server over gRPC (kiln serve, or a peer), measured from a client on
// the same machine: end-to-end latency at concurrency 1 (p50, p99), the overhead (that latency
// minus the model's own run time, measured here on the same bundle), gRPC's own floor (a
// ServerLive call), and throughput at concurrency 1, 8 and 64, for a model with and without
// dynamic batching. Where the server reports statistics (ModelStatistics, Triton's extension), also
// its own split of the latency runs' time: request, queue, compute and the rest (its overhead), as
// means. bench/serve_bench.sh starts the servers and runs this.
//
// Usage: serve_bench GRPC_PORT BUNDLE SECONDS [MODEL MODEL_BATCHED]
#include <curl/curl.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runtime/bundle.h"
#include "runtime/dnnl_kernels.h"
#include "serving/inference.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

// The model's statistics, or false when the server has none.
bool Stats(inference::GRPCInferenceService::Stub& stub, const std::string& model,
           inference::InferStatistics* stats) {
  grpc::ClientContext c;
  inference::ModelStatisticsRequest request;
  request.set_name(model);
  inference::ModelStatisticsResponse response;
  if (!stub.ModelStatistics(&c, request, &response).ok() || response.model_stats_size() != 1)
    return false;
  *stats = response.model_stats(0).inference_stats();
  return true;
}

struct Throughput {
  long done = 0, errors = 0;
};

Throughput Measure(const std::string& target, const inference::ModelInferRequest& request,
                   int calls, double seconds) {
  std::vector<std::unique_ptr<inference::GRPCInferenceService::Stub>> stubs;
  for (int i = 0; i < (calls + 7) / 8; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection
    stubs.push_back(inference::GRPCInferenceService::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args)));
  }
  struct Call {
    grpc::ClientContext context;
    inference::ModelInferResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<inference::ModelInferResponse>> reader;
  };
  grpc::CompletionQueue queue;
  std::vector<std::unique_ptr<Call>> slots(calls);
  auto send = [&](int slot) {
    slots[slot] = std::make_unique<Call>();
    Call& c = *slots[slot];
    c.reader = stubs[slot / 8]->AsyncModelInfer(&c.context, request, &queue);
    c.reader->Finish(&c.response, &c.status, reinterpret_cast<void*>(static_cast<intptr_t>(slot)));
  };
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  for (int slot = 0; slot < calls; ++slot) send(slot);
  Throughput t;
  int in_flight = calls;
  void* tag = nullptr;
  bool ok = false;
  while (in_flight > 0 && queue.Next(&tag, &ok)) {
    const int slot = static_cast<int>(reinterpret_cast<intptr_t>(tag));
    if (ok && slots[slot]->status.ok())
      ++t.done;
    else
      ++t.errors;
    if (Clock::now() < deadline)
      send(slot);
    else
      --in_flight;
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return t;
}

// An HTTP infer body and its headers.
struct HttpBody {
  std::string data;
  std::vector<std::string> headers;
};

std::string Pixels() {
  std::string pixels(784 * sizeof(float), '\0');
  for (int i = 0; i < 784; ++i) {
    const float v = static_cast<float>(i % 255) / 255.0f;
    std::memcpy(&pixels[i * 4], &v, 4);
  }
  return pixels;
}

inference::ModelInferRequest Request(const std::string& model) {
  inference::ModelInferRequest r;
  r.set_model_name(model);
  auto* in = r.add_inputs();
  in->set_name("images");
  in->set_datatype("FP32");
  in->add_shape(1);
  in->add_shape(784);
  r.add_raw_input_contents(Pixels());
  return r;
}

HttpBody JsonBody() {
  std::string data =
      R"({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 784], "data": [)";
  char number[32];
  for (int i = 0; i < 784; ++i) {
    std::snprintf(number, sizeof number, "%s%.9g", i ? ", " : "", (i % 255) / 255.0f);
    data += number;
  }
  data += "]}]}";
  return {data, {"Content-Type: application/json"}};
}

HttpBody BinaryBody() {
  const std::string header =
      R"({"inputs": [{"name": "images", "datatype": "FP32", "shape": [1, 784], )"
      R"("parameters": {"binary_data_size": 3136}}], "parameters": {"binary_data_output": true}})";
  return {header + Pixels(),
          {"Content-Type: application/octet-stream",
           "Inference-Header-Content-Length: " + std::to_string(header.size())}};
}

size_t Append(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// An easy handle for `url` (a POST of `body`, a GET without one), answers into `response`.
CURL* Easy(const std::string& url, const HttpBody* body, curl_slist** headers,
           std::string* response) {
  CURL* easy = curl_easy_init();
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, Append);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, response);
  *headers = curl_slist_append(nullptr, "Expect:");  // no 100-continue round trip
  if (body != nullptr) {
    for (const std::string& h : body->headers) *headers = curl_slist_append(*headers, h.c_str());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body->data.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->data.size()));
  }
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, *headers);
  return easy;
}

// Latencies at concurrency 1 on one kept-alive connection (after a warm-up); empty, saying why
// unless `quiet`, if the server refuses the request.
std::vector<double> HttpLatency(const std::string& url, const HttpBody* body, bool quiet = false) {
  std::string response;
  curl_slist* headers = nullptr;
  CURL* easy = Easy(url, body, &headers, &response);
  std::vector<double> latency;
  for (int i = 0; i < 3000; ++i) {
    response.clear();
    const auto t0 = Clock::now();
    const CURLcode rc = curl_easy_perform(easy);
    const double s = Seconds(t0, Clock::now());
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK || code != 200) {
      if (!quiet) {
        std::fprintf(stderr, "%s: %s %ld %s\n", url.c_str(), curl_easy_strerror(rc), code,
                     response.substr(0, 200).c_str());
      }
      latency.clear();
      break;
    }
    if (i >= 500) latency.push_back(s);
  }
  curl_easy_cleanup(easy);
  curl_slist_free_all(headers);
  return latency;
}

// HTTP throughput: `calls` requests in flight for `seconds` on libcurl's multi interface (one
// client thread, a connection per call), each answered one sent again at once.
Throughput HttpThroughput(const std::string& url, const HttpBody& body, int calls, double seconds) {
  struct Call {
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    std::string response;
  };
  CURLM* multi = curl_multi_init();
  std::vector<Call> slots(calls);
  for (Call& c : slots) {
    c.easy = Easy(url, &body, &c.headers, &c.response);
    curl_easy_setopt(c.easy, CURLOPT_PRIVATE, &c);
    curl_multi_add_handle(multi, c.easy);
  }
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  Throughput t;
  int in_flight = calls, running = 0;
  while (in_flight > 0) {
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Call* c = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &c);
      long code = 0;
      curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &code);
      if (msg->data.result == CURLE_OK && code == 200)
        ++t.done;
      else
        ++t.errors;
      curl_multi_remove_handle(multi, c->easy);
      if (Clock::now() < deadline) {
        c->response.clear();
        curl_multi_add_handle(multi, c->easy);
      } else {
        --in_flight;
      }
    }
    if (in_flight > 0) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  for (Call& c : slots) {
    curl_easy_cleanup(c.easy);
    curl_slist_free_all(c.headers);
  }
  curl_multi_cleanup(multi);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 7) {
    std::fprintf(stderr,
                 "usage: serve_bench GRPC_PORT HTTP_PORT BUNDLE SECONDS [MODEL MODEL_BATCHED]\n");
    return 2;
  }
  const std::vector<std::string> models = {argc == 7 ? argv[5] : "fashion",
                                           argc == 7 ? argv[6] : "fashion_batched"};
  const std::string target = std::string("127.0.0.1:") + argv[1];
  const std::string http = std::string("http://127.0.0.1:") + argv[2];
  const double seconds = std::atof(argv[4]);

  // The model's own run time, batch 1, in this process.
  auto bundle = kiln::rt::Bundle::Open(argv[3], kiln_dnnl_symbols);
  if (!bundle.ok()) {
    std::fprintf(stderr, "%s\n", bundle.status().ToString().c_str());
    return 1;
  }
  const int sig = (*bundle)->FindBatch("serving_default", 1);
  std::vector<float> pixels(784, 0.5f), probabilities(10);
  kiln::rt::Context context(kiln_dnnl_context_create(1));
  (*bundle)->Prepare(sig, context);
  std::vector<double> compute;
  for (int i = 0; i < 2000; ++i) {
    const auto t0 = Clock::now();
    if (!(*bundle)->Run(sig, {pixels.data()}, {probabilities.data()}, context).ok()) return 1;
    compute.push_back(Seconds(t0, Clock::now()));
  }
  const double compute_p50 = Percentile(compute, 0.5);
  std::printf("{\"compute_p50_us\": %.1f", compute_p50 * 1e6);

  // gRPC's own floor: ServerLive, which does no work.
  {
    auto stub = inference::GRPCInferenceService::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    std::vector<double> live;
    for (int i = 0; i < 3000; ++i) {
      grpc::ClientContext c;
      inference::ServerLiveRequest request;
      inference::ServerLiveResponse response;
      const auto t0 = Clock::now();
      if (!stub->ServerLive(&c, request, &response).ok()) return 1;
      if (i >= 500) live.push_back(Seconds(t0, Clock::now()));
    }
    std::printf(", \"grpc\": {\"server_live_p50_us\": %.1f", Percentile(live, 0.5) * 1e6);
  }

  for (size_t m = 0; m < models.size(); ++m) {
    const char* model = models[m].c_str();
    const char* label = m == 0 ? "alone" : "batched";
    auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    auto stub = inference::GRPCInferenceService::NewStub(channel);
    const inference::ModelInferRequest request = Request(model);
    // Latency at concurrency 1 (after a warm-up).
    std::vector<double> latency;
    inference::InferStatistics before, after;
    bool stats = false;
    for (int i = 0; i < 3000; ++i) {
      if (i == 500) stats = Stats(*stub, model, &before);
      grpc::ClientContext c;
      inference::ModelInferResponse response;
      const auto t0 = Clock::now();
      grpc::Status s = stub->ModelInfer(&c, request, &response);
      if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", model, s.error_message().c_str());
        return 1;
      }
      if (i >= 500) latency.push_back(Seconds(t0, Clock::now()));
    }
    stats = stats && Stats(*stub, model, &after);
    const double p50 = Percentile(latency, 0.5), p99 = Percentile(latency, 0.99);
    std::printf(
        ", \"%s\": {\"model\": \"%s\", \"latency_p50_us\": %.1f, \"latency_p99_us\": %.1f, "
        "\"overhead_p50_us\": %.1f, \"overhead_p99_us\": %.1f",
        label, model, p50 * 1e6, p99 * 1e6, (p50 - compute_p50) * 1e6, (p99 - compute_p50) * 1e6);
    if (stats) {
      const double n = static_cast<double>(after.success().count() - before.success().count());
      auto mean_us = [&](const inference::StatisticDuration& a,
                         const inference::StatisticDuration& b) {
        return n > 0 ? static_cast<double>(a.ns() - b.ns()) / n / 1e3 : 0.0;
      };
      const double request_us = mean_us(after.success(), before.success());
      const double queue_us = mean_us(after.queue(), before.queue());
      const double compute_us = mean_us(after.compute_infer(), before.compute_infer());
      std::printf(
          ", \"server_request_us\": %.1f, \"server_queue_us\": %.1f, \"server_compute_us\": %.1f, "
          "\"server_overhead_us\": %.1f",
          request_us, queue_us, compute_us, request_us - queue_us - compute_us);
    }
    // Throughput: N calls in flight for `seconds`, each answered call sent again at once, as
    // perf_analyzer's async mode does: one client thread on a completion queue, so the client
    // takes little of the machine's CPU; a connection per 8 calls.
    for (int clients : {1, 8, 64}) {
      const Throughput t = Measure(target, request, clients, seconds);
      std::printf(", \"throughput_c%d\": %.0f, \"errors_c%d\": %ld", clients, t.done / seconds,
                  clients, t.errors);
    }
    std::printf("}");
  }
  std::printf("}");

  // HTTP: the same with JSON bodies (which every Open Inference Protocol server takes), and the
  // latency with the binary tensor extension where the server has it.
  curl_global_init(CURL_GLOBAL_DEFAULT);
  std::printf(", \"http\": {\"health_live_p50_us\": %.1f",
              Percentile(HttpLatency(http + "/v2/health/live", nullptr), 0.5) * 1e6);
  for (size_t m = 0; m < models.size(); ++m) {
    const std::string url = http + "/v2/models/" + models[m] + "/infer";
    const HttpBody json = JsonBody(), binary = BinaryBody();
    const std::vector<double> latency = HttpLatency(url, &json);
    if (latency.empty()) return 1;
    const double p50 = Percentile(latency, 0.5), p99 = Percentile(latency, 0.99);
    std::printf(
        ", \"%s\": {\"model\": \"%s\", \"json_latency_p50_us\": %.1f, "
        "\"json_latency_p99_us\": %.1f, \"json_overhead_p50_us\": %.1f",
        m == 0 ? "alone" : "batched", models[m].c_str(), p50 * 1e6, p99 * 1e6,
        (p50 - compute_p50) * 1e6);
    const std::vector<double> binary_latency = HttpLatency(url, &binary, /*quiet=*/true);
    if (!binary_latency.empty()) {
      std::printf(", \"binary_latency_p50_us\": %.1f, \"binary_overhead_p50_us\": %.1f",
                  Percentile(binary_latency, 0.5) * 1e6,
                  (Percentile(binary_latency, 0.5) - compute_p50) * 1e6);
    }
    for (int clients : {1, 8, 64}) {
      const Throughput t = HttpThroughput(url, json, clients, seconds);
      std::printf(", \"json_throughput_c%d\": %.0f, \"errors_c%d\": %ld", clients, t.done / seconds,
                  clients, t.errors);
    }
    std::printf("}");
  }
  std::printf("}}\n");
  return 0;
}
