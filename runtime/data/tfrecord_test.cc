#include "runtime/data/tfrecord.h"

#include <fstream>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "testing/temp_files.h"

namespace kiln {
namespace rt {
namespace {

using ::kiln::testing::ReadFile;
using ::kiln::testing::TempPath;
using ::kiln::testing::WriteFile;

const std::vector<std::string> kRecords = {"first", "", std::string(1000, 'x'),
                                           std::string("\0\1\2", 3)};

void WriteRecords(const std::string& path) {
  StatusOr<TFRecordWriter> writer = TFRecordWriter::Open(path);
  REQUIRE(writer.ok());
  for (const std::string& r : kRecords) REQUIRE(writer->Write(r).ok());
  REQUIRE(writer->Close().ok());
}

TEST_CASE("TFRecord round-trips records with TensorFlow's framing") {
  const std::string path = TempPath("roundtrip.tfrecord");
  WriteRecords(path);
  const std::string bytes = ReadFile(path);
  size_t expected = 0;
  for (const std::string& r : kRecords) expected += 16 + r.size();
  REQUIRE(bytes.size() == expected);
  // The length comes first, as a little-endian uint64.
  REQUIRE(bytes.substr(0, 8) == std::string("\x05\0\0\0\0\0\0\0", 8));

  StatusOr<TFRecordReader> reader = TFRecordReader::Open(path);
  REQUIRE(reader.ok());
  for (const std::string& r : kRecords) {
    auto got = reader->Read();
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    REQUIRE(**got == r);
  }
  auto end = reader->Read();
  REQUIRE(end.ok());
  REQUIRE(!end->has_value());
}

TEST_CASE("TFRecord append adds records after the existing ones") {
  const std::string path = TempPath("append.tfrecord");
  WriteRecords(path);
  {
    auto writer = TFRecordWriter::Open(path, /*append=*/true);
    REQUIRE(writer.ok());
    REQUIRE(writer->Write("more").ok());
  }
  auto reader = TFRecordReader::Open(path);
  REQUIRE(reader.ok());
  int n = 0;
  std::string last;
  for (;;) {
    auto got = reader->Read();
    REQUIRE(got.ok());
    if (!got->has_value()) break;
    last = **got;
    ++n;
  }
  REQUIRE(n == 5);
  REQUIRE(last == "more");
}

StatusOr<int> ReadAllRecords(const std::string& path) {
  KILN_RT_ASSIGN_OR_RETURN(TFRecordReader reader, TFRecordReader::Open(path));
  int n = 0;
  for (;;) {
    KILN_RT_ASSIGN_OR_RETURN(std::optional<std::string> record, reader.Read());
    if (!record) return n;
    ++n;
  }
}

TEST_CASE("TFRecord detects a flipped byte anywhere and truncation at any length") {
  const std::string path = TempPath("good.tfrecord");
  WriteRecords(path);
  const std::string good = ReadFile(path);
  const std::string bad_path = TempPath("bad.tfrecord");
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x20;
    WriteFile(bad_path, bad);
    StatusOr<int> n = ReadAllRecords(bad_path);
    INFO("flipped byte " << i);
    REQUIRE(!n.ok());
    REQUIRE(n.status().code() == KILN_DATA_LOSS);
    REQUIRE(n.status().message().find("checksum mismatch") != std::string::npos);
  }
  for (size_t size = 1; size < good.size(); ++size) {
    WriteFile(bad_path, good.substr(0, size));
    StatusOr<int> n = ReadAllRecords(bad_path);
    INFO("truncated to " << size);
    // A cut exactly between records is a shorter valid file.
    if (n.ok()) {
      size_t boundary = 0;
      bool at_boundary = false;
      for (const std::string& r : kRecords) {
        boundary += 16 + r.size();
        at_boundary |= boundary == size;
      }
      REQUIRE(at_boundary);
    } else {
      REQUIRE(n.status().code() == KILN_DATA_LOSS);
      REQUIRE(n.status().message().find("truncated") != std::string::npos);
    }
  }
}

TEST_CASE("TFRecord errors name the file") {
  auto reader = TFRecordReader::Open(TempPath("does_not_exist.tfrecord"));
  REQUIRE(!reader.ok());
  REQUIRE(reader.status().message().find("does_not_exist.tfrecord") != std::string::npos);
}

}  // namespace
}  // namespace rt
}  // namespace kiln
