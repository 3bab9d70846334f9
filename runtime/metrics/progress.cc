#include "runtime/metrics/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>

namespace kiln {
namespace rt {
namespace {

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string Format(const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), format, value);
  return buf;
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long total = std::llround(seconds);
  char buf[32];
  if (total >= 3600) {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld:%02lld", total / 3600, total / 60 % 60,
                  total % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld:%02lld", total / 60, total % 60);
  }
  return buf;
}

Progress::Progress(std::FILE* out, Options options) : out_(out), options_(std::move(options)) {
  if (!options_.clock) options_.clock = SteadySeconds;
  terminal_ =
      options_.mode == Mode::kTerminal || (options_.mode == Mode::kAuto && isatty(fileno(out_)));
}

void Progress::StartEpoch(int epoch) {
  epoch_ = epoch;
  step_ = 0;
  examples_ = 0;
  loss_sum_ = 0;
  epoch_start_ = last_output_ = options_.clock();
  // An empty bar shows at once that the epoch started (compilation or data loading may hold up the
  // first step); a log gets its first line only once there is a rate to report.
  if (terminal_) Write(Line(/*done=*/false), /*end_of_line=*/false);
}

void Progress::Step(double loss, int64_t examples) {
  ++step_;
  examples_ += examples;
  loss_sum_ += loss * examples;
  const double now = options_.clock();
  if (now - last_output_ < (terminal_ ? options_.redraw_interval_s : options_.log_interval_s))
    return;
  last_output_ = now;
  Write(Line(/*done=*/false), /*end_of_line=*/!terminal_);
}

void Progress::EndEpoch(const std::vector<std::pair<std::string, double>>& metrics) {
  std::string line = Line(/*done=*/true);
  for (const auto& [name, value] : metrics) line += " " + name + " " + Format("%.4g", value);
  Write(line, /*end_of_line=*/true);
}

double Progress::mean_loss() const { return loss_sum_ / examples_; }

double Progress::examples_per_second() const {
  const double elapsed = options_.clock() - epoch_start_;
  return elapsed > 0 ? examples_ / elapsed : 0;
}

std::string Progress::Line(bool done) const {
  std::string line = "epoch " + std::to_string(epoch_) + "/" + std::to_string(options_.num_epochs);
  const std::string steps = std::to_string(step_) + "/" + std::to_string(options_.steps_per_epoch);
  if (terminal_) {
    const int width = options_.bar_width;
    const int filled = static_cast<int>(
        width * std::min(1.0, static_cast<double>(step_) / options_.steps_per_epoch));
    std::string bar = std::string(filled, '=');
    if (filled < width) bar += ">" + std::string(width - filled - 1, '.');
    line += " [" + bar + "] " + steps;
  } else {
    line += " step " + steps;
  }
  if (step_ == 0) return line;
  line += " loss " + Format("%.4g", mean_loss()) + " " + Format("%.1f", examples_per_second()) +
          " ex/s";
  const double elapsed = options_.clock() - epoch_start_;
  if (done) return line + " took " + FormatDuration(elapsed);
  const double eta = std::max<int64_t>(0, options_.steps_per_epoch - step_) * elapsed / step_;
  return line + " ETA " + FormatDuration(eta);
}

void Progress::Write(const std::string& line, bool end_of_line) {
  std::string text = line;
  if (terminal_) {
    // Back to the start of the line, and blanks over the end of a longer line drawn before.
    const size_t blanks = last_line_length_ > line.size() ? last_line_length_ - line.size() : 0;
    text = "\r" + line + std::string(blanks, ' ');
    last_line_length_ = end_of_line ? 0 : line.size();
  }
  if (end_of_line) text += "\n";
  std::fputs(text.c_str(), out_);
  // Lines reach a pipe at once, not when stdio's buffer fills.
  std::fflush(out_);
}

}  // namespace rt
}  // namespace kiln
