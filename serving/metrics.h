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
  // One infer request of `model`/`version`: whether it succeeded, how long it took, and (for a
  // success) its rows, the compiled batch size it ran at and its time in the batching queue.
  // `executed`: its run is counted here (once per batch of requests run together).
  void Record(const std::string& model, int64_t version, bool success, double seconds, int64_t rows,
              int64_t batch, double queue_seconds, bool executed);

  // Prometheus' text format (version 0.0.4): base units, _total counters.
  std::string Prometheus() const;
  // {"model_stats": [...]} for the models matching `model` (all when empty) and `version` (all
  // when 0), as Triton's statistics extension reports them.
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
    double success_seconds = 0, failure_seconds = 0;
    Histogram duration, queue, batch;
  };
  Series& At(const std::string& model, int64_t version);  // mutex_ held

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int64_t>, Series> series_;
};

}  // namespace serving
}  // namespace kiln

#endif  // KILN_SERVING_METRICS_H_
