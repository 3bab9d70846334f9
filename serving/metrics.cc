#include "serving/metrics.h"

#include <cstdio>

#include "nlohmann/json.hpp"

namespace kiln {
namespace serving {
namespace {

const std::vector<double> kSecondsBounds = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                            0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};

std::string Number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", v);
  return text;
}

}  // namespace

void Metrics::Histogram::Add(double v) {
  size_t i = 0;
  while (i < bounds.size() && v > bounds[i]) ++i;
  ++counts[i];
  sum += v;
  ++count;
}

Metrics::Series& Metrics::At(const std::string& model, int64_t version) {
  auto [it, added] = series_.try_emplace({model, version});
  if (added) {
    it->second.duration = {kSecondsBounds, std::vector<uint64_t>(kSecondsBounds.size() + 1, 0)};
    it->second.queue = it->second.duration;
    it->second.batch = {kBatchBounds, std::vector<uint64_t>(kBatchBounds.size() + 1, 0)};
  }
  return it->second;
}

void Metrics::Record(const std::string& model, int64_t version, bool success, double seconds,
                     int64_t rows, int64_t batch, double queue_seconds, bool executed) {
  std::lock_guard<std::mutex> lock(mutex_);
  Series& s = At(model, version);
  s.duration.Add(seconds);
  if (success) {
    ++s.success;
    s.success_seconds += seconds;
    s.rows += static_cast<uint64_t>(rows);
    if (executed) ++s.executions;
    s.batch.Add(static_cast<double>(batch));
    s.queue.Add(queue_seconds);
  } else {
    ++s.failure;
    s.failure_seconds += seconds;
  }
}

std::string Metrics::Prometheus() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  auto labels = [](const std::pair<std::string, int64_t>& key) {
    return "model=\"" + key.first + "\",version=\"" + std::to_string(key.second) + "\"";
  };
  out += "# HELP kiln_inference_requests_total Infer requests, by outcome.\n";
  out += "# TYPE kiln_inference_requests_total counter\n";
  for (const auto& [key, s] : series_) {
    out += "kiln_inference_requests_total{" + labels(key) + ",outcome=\"success\"} " +
           std::to_string(s.success) + "\n";
    out += "kiln_inference_requests_total{" + labels(key) + ",outcome=\"failure\"} " +
           std::to_string(s.failure) + "\n";
  }
  out += "# HELP kiln_inference_rows_total Rows (batch entries) of successful requests.\n";
  out += "# TYPE kiln_inference_rows_total counter\n";
  for (const auto& [key, s] : series_)
    out += "kiln_inference_rows_total{" + labels(key) + "} " + std::to_string(s.rows) + "\n";
  out += "# HELP kiln_executions_total Runs of the compiled model.\n";
  out += "# TYPE kiln_executions_total counter\n";
  for (const auto& [key, s] : series_)
    out += "kiln_executions_total{" + labels(key) + "} " + std::to_string(s.executions) + "\n";
  auto histogram = [&](const char* name, const char* help, Histogram Series::*member) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " histogram\n";
    for (const auto& [key, s] : series_) {
      const Histogram& h = s.*member;
      uint64_t cumulative = 0;
      for (size_t i = 0; i <= h.bounds.size(); ++i) {
        cumulative += h.counts[i];
        const std::string le = i < h.bounds.size() ? Number(h.bounds[i]) : "+Inf";
        out += std::string(name) + "_bucket{" + labels(key) + ",le=\"" + le + "\"} " +
               std::to_string(cumulative) + "\n";
      }
      out += std::string(name) + "_sum{" + labels(key) + "} " + Number(h.sum) + "\n";
      out += std::string(name) + "_count{" + labels(key) + "} " + std::to_string(h.count) + "\n";
    }
  };
  histogram("kiln_request_duration_seconds", "Infer requests' time in the server.",
            &Series::duration);
  histogram("kiln_queue_duration_seconds",
            "Successful requests' time waiting to be batched (0 without dynamic batching).",
            &Series::queue);
  histogram("kiln_batch_size", "The compiled batch size each request ran at.", &Series::batch);
  return out;
}

std::string Metrics::Statistics(const std::string& model, int64_t version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  nlohmann::json stats = nlohmann::json::array();
  for (const auto& [key, s] : series_) {
    if ((!model.empty() && key.first != model) || (version != 0 && key.second != version)) continue;
    auto ns = [](double seconds) { return static_cast<uint64_t>(seconds * 1e9); };
    stats.push_back({{"name", key.first},
                     {"version", std::to_string(key.second)},
                     {"inference_count", s.rows},
                     {"execution_count", s.executions},
                     {"inference_stats",
                      {{"success", {{"count", s.success}, {"ns", ns(s.success_seconds)}}},
                       {"fail", {{"count", s.failure}, {"ns", ns(s.failure_seconds)}}}}}});
  }
  return nlohmann::json{{"model_stats", stats}}.dump();
}

}  // namespace serving
}  // namespace kiln
