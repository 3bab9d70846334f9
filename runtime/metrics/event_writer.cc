#include "runtime/metrics/event_writer.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>

namespace kiln {
namespace rt {
namespace {

// The protocol buffer fields written (tensorflow/core/util/event.proto, framework/summary.proto):
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }
//   Value   { string tag = 1; float simple_value = 2; }
// Each field is a key (field number << 3 | wire type), then the value in that wire type.
enum WireType { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void PutVarint(uint64_t value, std::string* out) {
  for (; value >= 0x80; value >>= 7) out->push_back(static_cast<char>(value | 0x80));
  out->push_back(static_cast<char>(value));
}

void PutKey(int field, WireType type, std::string* out) { PutVarint(field << 3 | type, out); }

void PutLittleEndian(uint64_t bits, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(bits >> (8 * i)));
}

void PutDouble(int field, double value, std::string* out) {
  uint64_t bits;
  std::memcpy(&bits, &value, 8);
  PutKey(field, kFixed64, out);
  PutLittleEndian(bits, 8, out);
}

void PutFloat(int field, float value, std::string* out) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  PutKey(field, kFixed32, out);
  PutLittleEndian(bits, 4, out);
}

// int64 fields are varints of the two's complement, so a negative value takes 10 bytes.
void PutInt64(int field, int64_t value, std::string* out) {
  PutKey(field, kVarint, out);
  PutVarint(static_cast<uint64_t>(value), out);
}

// Strings and embedded messages alike.
void PutBytes(int field, const std::string& bytes, std::string* out) {
  PutKey(field, kLengthDelimited, out);
  PutVarint(bytes.size(), out);
  *out += bytes;
}

double WallTime() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string Hostname() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace

StatusOr<EventWriter> EventWriter::Create(const std::string& logdir) {
  std::error_code error;
  std::filesystem::create_directories(logdir, error);
  if (error)
    return UnavailableError("cannot create log directory '" + logdir + "': " + error.message());
  const std::string base =
      logdir + "/events.out.tfevents." + std::to_string(std::time(nullptr)) + "." + Hostname();
  std::string path = base;
  // An error here (say, no permission to look) stops the search; opening the file then reports it.
  for (int n = 1; std::filesystem::exists(path, error); ++n) path = base + "." + std::to_string(n);
  KILN_RT_ASSIGN_OR_RETURN(TFRecordWriter writer, TFRecordWriter::Open(path));
  std::string event;
  PutDouble(1, WallTime(), &event);
  PutBytes(3, "brain.Event:2", &event);
  KILN_RT_RETURN_IF_ERROR(writer.Write(event));
  KILN_RT_RETURN_IF_ERROR(writer.Flush());
  return EventWriter(std::move(writer), std::move(path));
}

Status EventWriter::AddScalar(const std::string& tag, int64_t step, float value) {
  std::string summary_value;
  PutBytes(1, tag, &summary_value);
  PutFloat(2, value, &summary_value);
  std::string summary;
  PutBytes(1, summary_value, &summary);
  std::string event;
  PutDouble(1, WallTime(), &event);
  PutInt64(2, step, &event);
  PutBytes(5, summary, &event);
  return writer_.Write(event);
}

Status EventWriter::Flush() { return writer_.Flush(); }

}  // namespace rt
}  // namespace kiln
