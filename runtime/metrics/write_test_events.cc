// Writes a known set of scalars to an event file in the log directory given, and prints each as
// "tag<TAB>step<TAB>value" for check_tensorboard.py to compare with what TensorBoard reads.
#include <cfloat>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "runtime/metrics/event_writer.h"

namespace {

int Fail(const kiln::rt::Status& status) {
  std::fprintf(stderr, "%s\n", status.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s LOGDIR\n", argv[0]);
    return 2;
  }
  kiln::rt::StatusOr<kiln::rt::EventWriter> writer = kiln::rt::EventWriter::Create(argv[1]);
  if (!writer.ok()) return Fail(writer.status());
  struct Scalar {
    const char* tag;
    int64_t step;
    float value;
  };
  std::vector<Scalar> scalars;
  for (int64_t step = 0; step < 50; ++step) {
    scalars.push_back({"train/loss", step, 2.0f / (step + 1)});
    if (step % 10 == 9) scalars.push_back({"test/accuracy", step, 0.5f + step / 100.0f});
  }
  scalars.push_back({"edge/values", 0, -2.5f});
  scalars.push_back({"edge/values", 1, FLT_MAX});
  scalars.push_back({"edge/values", 2, -1e-30f});
  scalars.push_back({"edge/values", 5000000000, 0.1f});  // A step past 2^32.
  scalars.push_back({"métrique/é", 7, 3.0f});
  for (const Scalar& s : scalars) {
    const kiln::rt::Status status = writer->AddScalar(s.tag, s.step, s.value);
    if (!status.ok()) return Fail(status);
    std::printf("%s\t%lld\t%.9g\n", s.tag, static_cast<long long>(s.step), s.value);
  }
  const kiln::rt::Status status = writer->Flush();
  if (!status.ok()) return Fail(status);
  std::fprintf(stderr, "wrote %s\n", writer->path().c_str());
  return 0;
}
