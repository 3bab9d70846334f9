// Training progress for a person watching: on a terminal one line redrawn in place
//   epoch 3/10 [=========>..........] 450/938 loss 0.4123 1234.5 ex/s ETA 0:42
// and, where output goes to a file or pipe (CI logs), a plain line every few seconds and one per
// epoch, so the log stays short and readable.
#ifndef KILN_RUNTIME_METRICS_PROGRESS_H_
#define KILN_RUNTIME_METRICS_PROGRESS_H_

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace kiln {
namespace rt {

// Seconds as "m:ss", or "h:mm:ss" from an hour on ("1:23", "1:02:03"); "?" when not finite.
std::string FormatDuration(double seconds);

// Not thread-safe.
class Progress {
 public:
  enum class Mode {
    kAuto,      // kTerminal when the stream is a terminal (isatty), else kPlain
    kTerminal,  // one line redrawn with carriage returns
    kPlain,     // whole lines at a bounded rate
  };
  struct Options {
    int num_epochs = 1;
    int64_t steps_per_epoch = 1;
    Mode mode = Mode::kAuto;
    // The least time between two redraws of the terminal line: drawing every step would slow a
    // fast training loop down to the terminal's pace.
    double redraw_interval_s = 0.1;
    // The least time between two plain lines within an epoch.
    double log_interval_s = 10;
    int bar_width = 20;
    // Monotonic seconds (steady_clock when unset); tests pass a fake.
    std::function<double()> clock;
  };

  // Writes to `out`, which must outlive this.
  Progress(std::FILE* out, Options options);

  // `epoch` is the 1-based number shown ("epoch 3/10").
  void StartEpoch(int epoch);
  // After each training step: its mean loss over `examples` examples.
  void Step(double loss, int64_t examples);
  // Ends the epoch's line with its totals and, when given, metrics such as test accuracy.
  void EndEpoch(const std::vector<std::pair<std::string, double>>& metrics = {});

  // The epoch so far: loss averaged over its examples (NaN before any), and examples per second.
  double mean_loss() const;
  double examples_per_second() const;

 private:
  std::string Line(bool done) const;
  void Write(const std::string& line, bool end_of_line);

  std::FILE* out_;
  Options options_;
  bool terminal_;
  int epoch_ = 0;
  int64_t step_ = 0;
  int64_t examples_ = 0;
  double loss_sum_ = 0;  // Sum of loss * examples.
  double epoch_start_ = 0;
  double last_output_ = 0;
  size_t last_line_length_ = 0;  // Of the terminal line, to blank what a shorter redraw leaves.
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_METRICS_PROGRESS_H_
