#include "runtime/metrics/event_writer.h"

#include <unistd.h>

#include <cfloat>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/data/tfrecord.h"

namespace kiln {
namespace rt {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A protocol buffer field as the wire format has it.
struct Field {
  int number;
  int wire_type;
  uint64_t bits = 0;  // Varint, fixed64 and fixed32 values.
  std::string bytes;  // Length-delimited values.
};

// The fields of a serialized message in order, failing the test on anything malformed.
std::vector<Field> Decode(const std::string& message) {
  size_t pos = 0;
  auto varint = [&] {
    uint64_t value = 0;
    for (int shift = 0;; shift += 7) {
      REQUIRE(pos < message.size());
      REQUIRE(shift < 64);
      const uint8_t byte = message[pos++];
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
  };
  auto fixed = [&](size_t size) {
    REQUIRE(size <= message.size() - pos);
    uint64_t value = 0;
    for (size_t i = 0; i < size; ++i)
      value |= static_cast<uint64_t>(static_cast<uint8_t>(message[pos++])) << (8 * i);
    return value;
  };
  std::vector<Field> fields;
  while (pos < message.size()) {
    const uint64_t key = varint();
    Field field{static_cast<int>(key >> 3), static_cast<int>(key & 7)};
    switch (field.wire_type) {
      case 0: field.bits = varint(); break;
      case 1: field.bits = fixed(8); break;
      case 2: {
        const uint64_t size = varint();
        REQUIRE(size <= message.size() - pos);
        field.bytes = message.substr(pos, size);
        pos += size;
        break;
      }
      case 5: field.bits = fixed(4); break;
      default: FAIL("wire type " << field.wire_type);
    }
    fields.push_back(field);
  }
  return fields;
}

// tensorflow.Event with the fields EventWriter writes.
struct Event {
  std::vector<int> fields;  // Field numbers in order.
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<std::pair<std::string, float>> values;  // Summary.value: (tag, simple_value)
};

Event DecodeEvent(const std::string& record) {
  Event event;
  for (const Field& field : Decode(record)) {
    event.fields.push_back(field.number);
    if (field.number == 1) {
      REQUIRE(field.wire_type == 1);
      std::memcpy(&event.wall_time, &field.bits, 8);
    } else if (field.number == 2) {
      REQUIRE(field.wire_type == 0);
      event.step = static_cast<int64_t>(field.bits);
    } else if (field.number == 3) {
      REQUIRE(field.wire_type == 2);
      event.file_version = field.bytes;
    } else {
      REQUIRE(field.number == 5);
      REQUIRE(field.wire_type == 2);
      for (const Field& value : Decode(field.bytes)) {
        REQUIRE(value.number == 1);
        REQUIRE(value.wire_type == 2);
        const std::vector<Field> parts = Decode(value.bytes);
        REQUIRE(parts.size() == 2);
        REQUIRE((parts[0].number == 1 && parts[0].wire_type == 2));
        REQUIRE((parts[1].number == 2 && parts[1].wire_type == 5));
        const uint32_t bits = static_cast<uint32_t>(parts[1].bits);
        float simple_value;
        std::memcpy(&simple_value, &bits, 4);
        event.values.emplace_back(parts[0].bytes, simple_value);
      }
    }
  }
  return event;
}

// Every event in the file; TFRecordReader checks each record's masked CRCs.
std::vector<Event> ReadEvents(const std::string& path) {
  StatusOr<TFRecordReader> reader = TFRecordReader::Open(path);
  REQUIRE(reader.ok());
  std::vector<Event> events;
  for (;;) {
    StatusOr<std::optional<std::string>> record = reader->Read();
    INFO(record.status().ToString());
    REQUIRE(record.ok());
    if (!record->has_value()) return events;
    events.push_back(DecodeEvent(**record));
  }
}

std::string Hostname() {
  char name[256] = {};
  REQUIRE(gethostname(name, sizeof(name) - 1) == 0);
  return name;
}

TEST_CASE("EventWriter writes a file_version event, then one event per scalar") {
  const std::string logdir = TempPath("logs/run1");  // Its parent is missing too.
  std::filesystem::remove_all(TempPath("logs"));
  const double before = Now();
  StatusOr<EventWriter> writer = EventWriter::Create(logdir);
  REQUIRE(writer.ok());
  const std::vector<std::pair<int64_t, std::pair<std::string, float>>> scalars = {
      {0, {"train/loss", 2.5f}},
      {1, {"train/loss", 0.1f}},
      {5000000000, {"test/accuracy", -1e-30f}},  // A step past 2^32.
      {-1, {"métrique", FLT_MAX}},               // A negative step is a 10-byte varint.
  };
  for (const auto& [step, scalar] : scalars)
    REQUIRE(writer->AddScalar(scalar.first, step, scalar.second).ok());
  REQUIRE(writer->Flush().ok());
  const double after = Now();

  const std::string name = std::filesystem::path(writer->path()).filename();
  const std::string prefix = "events.out.tfevents.";
  const std::string suffix = "." + Hostname();
  REQUIRE(writer->path() == logdir + "/" + name);
  REQUIRE(name.substr(0, prefix.size()) == prefix);
  REQUIRE(name.substr(name.size() - suffix.size()) == suffix);
  const double file_time =
      std::stod(name.substr(prefix.size(), name.size() - prefix.size() - suffix.size()));
  REQUIRE(file_time >= static_cast<int64_t>(before));
  REQUIRE(file_time <= after);

  // Read while the writer is open: Flush made the events visible.
  const std::vector<Event> events = ReadEvents(writer->path());
  REQUIRE(events.size() == 1 + scalars.size());
  REQUIRE(events[0].fields == std::vector<int>{1, 3});
  REQUIRE(events[0].file_version == "brain.Event:2");
  for (size_t i = 0; i < events.size(); ++i) {
    REQUIRE(events[i].wall_time >= before);
    REQUIRE(events[i].wall_time <= after);
  }
  for (size_t i = 0; i < scalars.size(); ++i) {
    const Event& event = events[i + 1];
    REQUIRE(event.fields == std::vector<int>{1, 2, 5});
    REQUIRE(event.step == scalars[i].first);
    REQUIRE(event.values == std::vector<std::pair<std::string, float>>{scalars[i].second});
  }
}

TEST_CASE("EventWriter gives each writer its own file") {
  const std::string logdir = TempPath("shared_logs");
  std::filesystem::remove_all(logdir);
  StatusOr<EventWriter> first = EventWriter::Create(logdir);
  StatusOr<EventWriter> second =
      EventWriter::Create(logdir);  // Most likely within the same second.
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE(first->path() != second->path());
  REQUIRE(first->AddScalar("loss", 1, 1.0f).ok());
  REQUIRE(first->Flush().ok());
  REQUIRE(ReadEvents(first->path()).size() == 2);
  REQUIRE(ReadEvents(second->path()).size() == 1);
}

TEST_CASE("EventWriter errors name the log directory") {
  const std::string file = TempPath("not_a_dir");
  std::ofstream(file) << "x";
  for (const std::string& logdir : {file, file + "/logs"}) {
    StatusOr<EventWriter> writer = EventWriter::Create(logdir);
    REQUIRE(writer.status().code() == KILN_UNAVAILABLE);
    REQUIRE(writer.status().message() ==
            "cannot create log directory '" + logdir + "': Not a directory");
  }
}

}  // namespace
}  // namespace rt
}  // namespace kiln
