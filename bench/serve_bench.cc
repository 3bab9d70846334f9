// kiln serve over gRPC, measured from a client on the same machine: end-to-end latency at
// concurrency 1 (p50, p99), the server's overhead (that latency minus the model's own run time,
// measured here on the same bundle), gRPC's own floor (a ServerLive call), and throughput at
// concurrency 1, 8 and 64, for a model with and without dynamic batching. bench/serve_bench.sh
// starts the server and runs this.
//
// Usage: serve_bench GRPC_PORT BUNDLE SECONDS
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
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

inference::ModelInferRequest Request(const std::string& model) {
  inference::ModelInferRequest r;
  r.set_model_name(model);
  auto* in = r.add_inputs();
  in->set_name("images");
  in->set_datatype("FP32");
  in->add_shape(1);
  in->add_shape(784);
  std::string pixels(784 * sizeof(float), '\0');
  for (int i = 0; i < 784; ++i) {
    const float v = static_cast<float>(i % 255) / 255.0f;
    std::memcpy(&pixels[i * 4], &v, 4);
  }
  r.add_raw_input_contents(pixels);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: serve_bench GRPC_PORT BUNDLE SECONDS\n");
    return 2;
  }
  const std::string target = std::string("127.0.0.1:") + argv[1];
  const double seconds = std::atof(argv[3]);

  // The model's own run time, batch 1, in this process.
  auto bundle = kiln::rt::Bundle::Open(argv[2], kiln_dnnl_symbols);
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
    std::printf(", \"server_live_p50_us\": %.1f", Percentile(live, 0.5) * 1e6);
  }

  for (const char* model : {"fashion", "fashion_batched"}) {
    auto channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    auto stub = inference::GRPCInferenceService::NewStub(channel);
    const inference::ModelInferRequest request = Request(model);
    // Latency at concurrency 1 (after a warm-up).
    std::vector<double> latency;
    for (int i = 0; i < 3000; ++i) {
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
    const double p50 = Percentile(latency, 0.5), p99 = Percentile(latency, 0.99);
    std::printf(
        ", \"%s\": {\"latency_p50_us\": %.1f, \"latency_p99_us\": %.1f, "
        "\"overhead_p50_us\": %.1f, \"overhead_p99_us\": %.1f",
        model, p50 * 1e6, p99 * 1e6, (p50 - compute_p50) * 1e6, (p99 - compute_p50) * 1e6);
    // Throughput: N clients, each sending one request after another, for `seconds`.
    for (int clients : {1, 8, 64}) {
      std::atomic<long> done{0}, errors{0};
      const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
      std::vector<std::thread> threads;
      for (int t = 0; t < clients; ++t) {
        threads.emplace_back([&] {
          auto own = inference::GRPCInferenceService::NewStub(
              grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
          while (Clock::now() < deadline) {
            grpc::ClientContext c;
            inference::ModelInferResponse response;
            if (own->ModelInfer(&c, request, &response).ok())
              ++done;
            else
              ++errors;
          }
        });
      }
      for (std::thread& t : threads) t.join();
      std::printf(", \"throughput_c%d\": %.0f, \"errors_c%d\": %ld", clients, done / seconds,
                  clients, errors.load());
    }
    std::printf("}");
  }
  std::printf("}\n");
  return 0;
}
