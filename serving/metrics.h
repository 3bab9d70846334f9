// kiln serve's counters and histograms per model version, as Prometheus text (GET /metrics on
// --metrics-port) and as the Open Inference Protocol's statistics (GET /v2/models/stats).
#ifndef KILN_SERVING_METRICS_H_
#define KILN_SERVING_METRICS_H_

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kiln {
namespace serving {

class Metrics {
 public:
  // One infer request: how long it was in the server (from its arrival, decoded, to its answer),
  // and for a success its rows, the compiled batch size it ran at, its time in the batching queue
  // and its batch's run time. `executed`: its run is counted here (once per batch run together).
  struct Request {
    bool success = false;
    double seconds = 0, queue_seconds = 0, compute_seconds = 0;
    int64_t rows = 0, batch = 0;
    bool executed = false;
  };
  void Record(const std::string& model, int64_t version, const Request& r);

  // Prometheus' text format (version 0.0.4): base units, _total counters.
  std::string Prometheus() const;
  // Triton's statistics extension for the models matching `model` (all when empty) and
  // `version` (all when 0): as values, and as its JSON ({"model_stats": [...]}).
  struct Duration {
    uint64_t count = 0, ns = 0;
  };
  struct ModelStats {
    std::string name;
    int64_t version = 0;
    uint64_t inference_count = 0, execution_count = 0;  // rows; runs
    Duration success, fail, queue, compute_infer;
  };
  std::vector<ModelStats> Stats(const std::string& model, int64_t version) const;
  std::string Statistics(const std::string& model, int64_t version) const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bound, not cumulative; one more for +Inf
    double sum = 0;
    uint64_t count = 0;
    void Add(double v);
  };
  struct Series {
    uint64_t success = 0, failure = 0, rows = 0, executions = 0;
    double success_seconds = 0, failure_seconds = 0, queue_seconds = 0, compute_seconds = 0;
    Histogram duration, queue, compute, batch;
  };
  Series& At(const std::string& model, int64_t version);  // mutex_ held

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int64_t>, Series> series_;
};

}  // namespace serving
}  // namespace kiln

#endif  // KILN_SERVING_METRICS_H_
