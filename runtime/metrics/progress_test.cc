#include "runtime/metrics/progress.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "catch2/catch.hpp"

namespace kiln {
namespace rt {
namespace {

// A FILE* whose output the test reads back (not a terminal).
class CapturedFile {
 public:
  CapturedFile() : file_(open_memstream(&data_, &size_)) {}
  ~CapturedFile() {
    std::fclose(file_);
    std::free(data_);
  }
  std::FILE* file() const { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

// Options whose clock reads `*now`.
Progress::Options FakeClock(double* now, int64_t steps_per_epoch, Progress::Mode mode) {
  Progress::Options options;
  options.steps_per_epoch = steps_per_epoch;
  options.mode = mode;
  options.bar_width = 10;
  options.clock = [now] { return *now; };
  return options;
}

TEST_CASE("FormatDuration gives m:ss, then h:mm:ss from an hour on") {
  REQUIRE(FormatDuration(0) == "0:00");
  REQUIRE(FormatDuration(59.4) == "0:59");
  REQUIRE(FormatDuration(83) == "1:23");
  REQUIRE(FormatDuration(3599.6) == "1:00:00");
  REQUIRE(FormatDuration(3723) == "1:02:03");
  REQUIRE(FormatDuration(360000) == "100:00:00");
  REQUIRE(FormatDuration(INFINITY) == "?");
  REQUIRE(FormatDuration(NAN) == "?");
}

TEST_CASE("Progress on a terminal redraws one line, at most once per redraw interval") {
  CapturedFile out;
  double now = 100;
  Progress::Options options = FakeClock(&now, 10, Progress::Mode::kTerminal);
  options.num_epochs = 2;
  Progress progress(out.file(), options);
  progress.StartEpoch(1);
  now = 100.05;
  progress.Step(2.0, 4);  // Within 0.1 s of the last draw: not drawn.
  now = 101;
  progress.Step(1.0, 4);
  now = 101.05;
  for (int i = 0; i < 8; ++i) progress.Step(1.5, 4);
  now = 105;
  progress.EndEpoch({{"test_accuracy", 0.9}});
  progress.StartEpoch(2);
  REQUIRE(
      out.text() ==
      "\repoch 1/2 [>.........] 0/10"
      // Mean loss (2 * 4 + 1 * 4) / 8 examples; 8 examples in 1 s; 8 steps left at 0.5 s a step.
      "\repoch 1/2 [==>.......] 2/10 loss 1.5 8.0 ex/s ETA 0:04"
      "\repoch 1/2 [==========] 10/10 loss 1.5 8.0 ex/s took 0:05 test_accuracy 0.9\n"
      "\repoch 2/2 [>.........] 0/10");
}

TEST_CASE("Progress on a terminal blanks what a shorter redraw leaves") {
  CapturedFile out;
  double now = 0;
  Progress progress(out.file(), FakeClock(&now, 3601, Progress::Mode::kTerminal));
  progress.StartEpoch(1);
  now = 1;
  progress.Step(1.0, 1);
  now = 2;
  progress.Step(1.0, 1);
  REQUIRE(out.text() ==
          "\repoch 1/1 [>.........] 0/3601"
          "\repoch 1/1 [>.........] 1/3601 loss 1 1.0 ex/s ETA 1:00:00"
          "\repoch 1/1 [>.........] 2/3601 loss 1 1.0 ex/s ETA 59:59  ");
}

TEST_CASE(
    "Progress in a log writes a plain line at most once per log interval, and one per epoch") {
  CapturedFile out;
  double now = 0;
  Progress::Options options = FakeClock(&now, 100, Progress::Mode::kAuto);
  options.log_interval_s = 10;
  Progress progress(out.file(), options);
  progress.StartEpoch(1);
  for (int i = 0; i < 100; ++i) {
    now += 0.5;
    progress.Step(0.5, 10);
  }
  progress.EndEpoch({{"test_accuracy", 0.95}});
  // A memstream is no terminal, so kAuto chose plain lines.
  REQUIRE(out.text() ==
          "epoch 1/1 step 20/100 loss 0.5 20.0 ex/s ETA 0:40\n"
          "epoch 1/1 step 40/100 loss 0.5 20.0 ex/s ETA 0:30\n"
          "epoch 1/1 step 60/100 loss 0.5 20.0 ex/s ETA 0:20\n"
          "epoch 1/1 step 80/100 loss 0.5 20.0 ex/s ETA 0:10\n"
          "epoch 1/1 step 100/100 loss 0.5 20.0 ex/s ETA 0:00\n"
          "epoch 1/1 step 100/100 loss 0.5 20.0 ex/s took 0:50 test_accuracy 0.95\n");
}

TEST_CASE("Progress averages the loss over examples and counts examples per second") {
  CapturedFile out;
  double now = 0;
  Progress progress(out.file(), FakeClock(&now, 10, Progress::Mode::kPlain));
  progress.StartEpoch(1);
  REQUIRE(std::isnan(progress.mean_loss()));
  progress.Step(1.0, 30);
  progress.Step(0.0, 10);  // A short last batch weighs less.
  now = 2;
  REQUIRE(progress.mean_loss() == 0.75);
  REQUIRE(progress.examples_per_second() == 20);
  progress.StartEpoch(2);
  REQUIRE(progress.examples_per_second() == 0);
  REQUIRE(out.text().empty());
}

}  // namespace
}  // namespace rt
}  // namespace kiln
