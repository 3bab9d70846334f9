// TensorBoard event files: scalars such as loss, accuracy and learning rate over steps, as
// TensorBoard reads them: a file `events.out.tfevents.<unix time>.<hostname>` in a log directory,
// TFRecord-framed tensorflow.Event protocol buffers. The few fields needed are encoded by hand, so
// the runtime carries no protobuf library.
//
//   KILN_RT_ASSIGN_OR_RETURN(EventWriter events, EventWriter::Create("runs/mnist"));
//   KILN_RT_RETURN_IF_ERROR(events.AddScalar("train/loss", step, loss));
//   KILN_RT_RETURN_IF_ERROR(events.Flush());  // e.g. once an epoch, so a running TensorBoard sees
//   it
#ifndef KILN_RUNTIME_METRICS_EVENT_WRITER_H_
#define KILN_RUNTIME_METRICS_EVENT_WRITER_H_

#include <cstdint>
#include <string>
#include <utility>

#include "runtime/data/tfrecord.h"
#include "runtime/status.h"

namespace kiln {
namespace rt {

// Not thread-safe.
class EventWriter {
 public:
  // Creates `logdir` (and its parents) where missing, and a new event file in it that starts with
  // the file_version record TensorBoard expects. A name already taken (another writer in the same
  // second) gets a ".1", ".2", ... suffix rather than being overwritten.
  static StatusOr<EventWriter> Create(const std::string& logdir);

  // One event: `value` under `tag` at `step`, stamped with the current wall time.
  Status AddScalar(const std::string& tag, int64_t step, float value);
  // Pushes the events written so far to the OS, where TensorBoard reads them; closing (the
  // destructor) also does.
  Status Flush();

  // The event file.
  const std::string& path() const { return path_; }

 private:
  EventWriter(TFRecordWriter writer, std::string path)
      : writer_(std::move(writer)), path_(std::move(path)) {}

  TFRecordWriter writer_;
  std::string path_;
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_METRICS_EVENT_WRITER_H_
