// kiln: the serving tool.
//
//   kiln serve --model-repository DIR [--http-port 8000] [--address 127.0.0.1] [--threads 4]
//
// Serves every DIR/<model>/<version>/model.kiln over HTTP with the Open Inference Protocol (KServe
// v2; docs/serving.md) until SIGTERM or SIGINT, then lets requests in flight finish and exits 0.
// Exit status: 0 after a clean stop, 1 when the repository does not load or the port cannot be
// had, 2 bad usage.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "serving/server.h"

namespace {

constexpr char kUsage[] =
    "usage: kiln serve --model-repository DIR [--http-port PORT (8000; 0: any free port)]\n"
    "                  [--grpc-port PORT (8001; -1: none)]\n"
    "                  [--metrics-port PORT (8002: Prometheus' GET /metrics; -1: none)]\n"
    "                  [--address IPV4 (127.0.0.1)] [--threads N (4)]\n"
    "                  [--max-body-bytes N (64 MiB: a larger request gets 413)]\n"
    "                  [--connection-timeout S (10: an idle or stalled connection is closed)]\n"
    "                  [--poll-seconds S (2: how often new versions are looked for; 0: never)]\n";

int Usage(const std::string& message) {
  std::fprintf(stderr, "kiln: %s\n%s", message.c_str(), kUsage);
  return 2;
}

bool ParseInt(const std::string& s, int low, int high, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < low || v > high) return false;
  *out = static_cast<int>(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage("no command given");
  const std::string command = argv[1];
  if (command == "help" || command == "--help" || command == "-h") {
    std::printf("%s", kUsage);
    return 0;
  }
  if (command != "serve") return Usage("unknown command '" + command + "'");
  std::string repository_dir;
  kiln::serving::ServerOptions options;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return Usage("flag '" + flag + "' needs a value");
    const std::string value = argv[++i];
    if (flag == "--model-repository") {
      repository_dir = value;
    } else if (flag == "--http-port") {
      if (!ParseInt(value, 0, 65535, &options.http_port))
        return Usage("--http-port: '" + value + "' is not a port (0 to 65535)");
    } else if (flag == "--grpc-port") {
      if (!ParseInt(value, -1, 65535, &options.grpc_port))
        return Usage("--grpc-port: '" + value + "' is not a port (0 to 65535; -1: none)");
    } else if (flag == "--metrics-port") {
      if (!ParseInt(value, -1, 65535, &options.metrics_port))
        return Usage("--metrics-port: '" + value + "' is not a port (0 to 65535; -1: none)");
    } else if (flag == "--address") {
      options.address = value;
    } else if (flag == "--poll-seconds") {
      char* end = nullptr;
      options.poll_seconds = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(options.poll_seconds >= 0))
        return Usage("--poll-seconds: '" + value + "' is not a number of seconds (0: never)");
    } else if (flag == "--connection-timeout") {
      if (!ParseInt(value, 1, 3600, &options.connection_timeout_s))
        return Usage("--connection-timeout: '" + value + "' is not 1 to 3600 seconds");
    } else if (flag == "--max-body-bytes") {
      int mib = 0;
      if (!ParseInt(value, 1, 1 << 30, &mib))
        return Usage("--max-body-bytes: '" + value + "' is not 1 to 2^30");
      options.max_body_bytes = static_cast<size_t>(mib);
    } else if (flag == "--threads") {
      if (!ParseInt(value, 1, 256, &options.threads))
        return Usage("--threads: '" + value + "' is not 1 to 256");
    } else {
      return Usage("unknown flag '" + flag + "'");
    }
  }
  if (repository_dir.empty()) return Usage("--model-repository DIR is required");

  // SIGTERM and SIGINT are taken synchronously below, so block them in every thread first.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto repository = kiln::serving::Repository::Load(repository_dir);
  if (!repository.ok()) {
    std::fprintf(stderr, "kiln serve: %s\n", repository.status().ToString().c_str());
    return 1;
  }
  auto server = kiln::serving::Server::Start(**repository, options);
  if (!server.ok()) {
    std::fprintf(stderr, "kiln serve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::string models;
  for (const std::string& m : (*repository)->Models()) models += (models.empty() ? "" : ", ") + m;
  if ((*server)->grpc_port() >= 0) {
    std::printf("kiln serve: gRPC on %s:%d\n", options.address.c_str(), (*server)->grpc_port());
  }
  if ((*server)->metrics_port() >= 0) {
    std::printf("kiln serve: metrics on http://%s:%d/metrics\n", options.address.c_str(),
                (*server)->metrics_port());
  }
  std::printf("kiln serve: serving %s on http://%s:%d\n",
              models.empty() ? "no models" : models.c_str(), options.address.c_str(),
              (*server)->port());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&signals, &signal);
  std::printf("kiln serve: %s: finishing requests in flight\n",
              signal == SIGTERM ? "SIGTERM" : "SIGINT");
  std::fflush(stdout);
  (*server)->Stop();
  return 0;
}
