#include "serving/metrics.h"

#include <cstdio>

#include "nlohmann/json.hpp"

namespace kiln {
namespace serving {
namespace {

const std::vector<double> kSecondsBounds = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                            0.001,   0.0025,   0.005,   0.01,   0.025,   0.05,
                                            0.1,     0.25,     0.5,     1,      2.5};
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
    it->second.compute = it->second.duration;
    it->second.batch = {kBatchBounds, std::vector<uint64_t>(kBatchBounds.size() + 1, 0)};
  }
  return it->second;
}

void Metrics::Record(const std::string& model, int64_t version, const Request& r) {
  std::lock_guard<std::mutex> lock(mutex_);
  Series& s = At(model, version);
  s.duration.Add(r.seconds);
  if (r.success) {
    ++s.success;
    s.success_seconds += r.seconds;
    s.queue_seconds += r.queue_seconds;
    s.compute_seconds += r.compute_seconds;
    s.rows += static_cast<uint64_t>(r.rows);
    if (r.executed) ++s.executions;
    s.batch.Add(static_cast<double>(r.batch));
    s.queue.Add(r.queue_seconds);
    s.compute.Add(r.compute_seconds);
  } else {
    ++s.failure;
    s.failure_seconds += r.seconds;
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
  histogram("kiln_compute_duration_seconds",
            "Successful requests' run time (their batch's, with dynamic batching).",
            &Series::compute);
  histogram("kiln_batch_size", "The compiled batch size each request ran at.", &Series::batch);
  return out;
}

std::vector<Metrics::ModelStats> Metrics::Stats(const std::string& model, int64_t version) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<ModelStats> stats;
  auto ns = [](double seconds) { return static_cast<uint64_t>(seconds * 1e9); };
  for (const auto& [key, s] : series_) {
    if ((!model.empty() && key.first != model) || (version != 0 && key.second != version)) continue;
    stats.push_back({key.first,
                     key.second,
                     s.rows,
                     s.executions,
                     {s.success, ns(s.success_seconds)},
                     {s.failure, ns(s.failure_seconds)},
                     {s.success, ns(s.queue_seconds)},
                     {s.success, ns(s.compute_seconds)}});
  }
  return stats;
}

std::string Metrics::Statistics(const std::string& model, int64_t version) const {
  auto duration = [](const Duration& d) {
    return nlohmann::json{{"count", d.count}, {"ns", d.ns}};
  };
  nlohmann::json stats = nlohmann::json::array();
  for (const ModelStats& s : Stats(model, version)) {
    stats.push_back({{"name", s.name},
                     {"version", std::to_string(s.version)},
                     {"inference_count", s.inference_count},
                     {"execution_count", s.execution_count},
                     {"inference_stats",
                      {{"success", duration(s.success)},
                       {"fail", duration(s.fail)},
                       {"queue", duration(s.queue)},
                       {"compute_infer", duration(s.compute_infer)}}}});
  }
  return nlohmann::json{{"model_stats", stats}}.dump();
}

}  // namespace serving
}  // namespace kiln
