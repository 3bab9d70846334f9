#include "runtime/data/example_records.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "runtime/data/idx.h"
#include "runtime/data/tfrecord.h"
#include "runtime/require_ok.h"
#include "testing/temp_files.h"

namespace kiln {
namespace rt {
namespace {

using ::kiln::testing::ReadFile;
using ::kiln::testing::TempPath;
using ::kiln::testing::WriteFile;

void WriteRecords(const std::string& path, const std::vector<std::string>& records) {
  StatusOr<TFRecordWriter> writer = TFRecordWriter::Open(path);
  REQUIRE_OK(writer.status());
  for (const std::string& r : records) REQUIRE_OK(writer->Write(r));
  REQUIRE_OK(writer->Close());
}

std::vector<std::string> ReadRecords(const std::string& path) {
  StatusOr<TFRecordReader> reader = TFRecordReader::Open(path);
  REQUIRE_OK(reader.status());
  std::vector<std::string> records;
  for (;;) {
    StatusOr<std::optional<std::string>> record = reader->Read();
    REQUIRE_OK(record.status());
    if (!*record) return records;
    records.push_back(std::move(**record));
  }
}

// Little-endian bytes of `v`, as the format spells integers.
std::string Le(uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return s;
}

// `n` examples in every element type, with multi-dimensional examples: "pixels" u8 [n, 2, 3],
// "label" i32 [n], "feature" f32 [n, 2, 2], "id" i64 [n, 1], "weight" f64 [n].
std::vector<Column> Columns(int64_t n) {
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  std::vector<float> features;
  std::vector<int64_t> ids;
  std::vector<double> weights;
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 6; ++j) pixels.push_back(static_cast<uint8_t>(i * 6 + j));
    labels.push_back(static_cast<int32_t>(i * 7 - 3));
    for (int j = 0; j < 4; ++j) features.push_back(static_cast<float>(i) + 0.25f * j - 1.0f);
    ids.push_back((int64_t{1} << 40) + i);
    weights.push_back(1.0 / (i + 1));
  }
  return {Column::Of("pixels", {n, 2, 3}, pixels), Column::Of("label", {n}, labels),
          Column::Of("feature", {n, 2, 2}, features), Column::Of("id", {n, 1}, ids),
          Column::Of("weight", {n}, weights)};
}

void RequireSameColumns(const std::vector<Column>& got, const std::vector<Column>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("column " << i);
    REQUIRE(got[i].name == want[i].name);
    REQUIRE(got[i].type == want[i].type);
    REQUIRE(got[i].shape == want[i].shape);
    REQUIRE(got[i].bytes == want[i].bytes);
  }
}

// The first `rows` examples of `columns`.
std::vector<Column> Head(std::vector<Column> columns, int64_t rows) {
  for (Column& c : columns) {
    c.bytes.resize(c.bytes.size() / c.shape[0] * rows);
    c.shape[0] = rows;
  }
  return columns;
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::set<std::string> DirEntries(const std::string& dir) {
  std::set<std::string> names;
  DIR* d = opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (const dirent* e = readdir(d)) names.insert(e->d_name);
  closedir(d);
  return names;
}

std::string FreshDir(const std::string& name) {
  const std::string dir = TempPath(name);
  mkdir(dir.c_str(), 0755);
  for (const std::string& entry : DirEntries(dir)) {
    if (entry != "." && entry != "..") std::remove((dir + "/" + entry).c_str());
  }
  return dir;
}

TEST_CASE("Example records round-trip every element type with multi-dimensional examples") {
  const std::string path = TempPath("roundtrip.kilnex");
  const std::vector<Column> columns = Columns(5);
  REQUIRE_OK(WriteExampleRecords(path, columns));
  StatusOr<std::vector<Column>> read = ReadExampleRecords(path);
  REQUIRE_OK(read.status());
  RequireSameColumns(*read, columns);
  // A schema record and one record per example.
  REQUIRE(ReadRecords(path).size() == 6);
}

TEST_CASE("Example records round-trip zero examples") {
  const std::string path = TempPath("empty.kilnex");
  const std::vector<Column> columns = Columns(0);
  REQUIRE(columns[0].shape == std::vector<int64_t>{0, 2, 3});
  REQUIRE_OK(WriteExampleRecords(path, columns));
  StatusOr<std::vector<Column>> read = ReadExampleRecords(path);
  REQUIRE_OK(read.status());
  RequireSameColumns(*read, columns);
  REQUIRE(ReadRecords(path).size() == 1);
  StatusOr<Dataset> dataset = ReadExampleDataset(path);
  REQUIRE_OK(dataset.status());
  REQUIRE(dataset->size() == 0);

  // Examples of zero bytes are still counted, one record each.
  const std::vector<Column> hollow = {Column::Of<float>("nothing", {4, 3, 0}, {})};
  REQUIRE_OK(WriteExampleRecords(path, hollow));
  read = ReadExampleRecords(path);
  REQUIRE_OK(read.status());
  RequireSameColumns(*read, hollow);
}

TEST_CASE("Example records are laid out as the header says") {
  const std::string path = TempPath("layout.kilnex");
  REQUIRE_OK(WriteExampleRecords(path, {Column::Of<uint8_t>("x", {2, 3}, {1, 2, 3, 4, 5, 6}),
                                        Column::Of<int32_t>("yy", {2}, {0x01020304, -2})}));
  const std::string schema = std::string("KILNEXv1") + Le(2, 4) +  // magic, 2 columns
                             Le(1, 4) + "x" + Le(0, 4) + Le(1, 4) +
                             Le(3, 8) +                              // "x": u8, one example [3]
                             Le(2, 4) + "yy" + Le(1, 4) + Le(0, 4);  // "yy": i32, one example []
  REQUIRE(ReadRecords(path) == std::vector<std::string>{schema, std::string("\1\2\3\4\3\2\1", 7),
                                                        std::string("\4\5\6\xfe\xff\xff\xff", 7)});
}

TEST_CASE("A dataset read back from example records gives the original's batches") {
  const std::string path = TempPath("batches.kilnex");
  const std::vector<Column> columns = Columns(11);
  REQUIRE_OK(WriteExampleRecords(path, columns));
  StatusOr<Dataset> original = Dataset::FromColumns(columns);
  StatusOr<Dataset> read = ReadExampleDataset(path);
  REQUIRE_OK(original.status());
  REQUIRE_OK(read.status());
  BatchOptions options;
  options.batch_size = 4;
  options.seed = 7;
  options.last_batch = LastBatch::kPartial;
  options.num_epochs = 2;
  StatusOr<BatchIterator> want = original->Batches(options);
  StatusOr<BatchIterator> got = read->Batches(options);
  REQUIRE_OK(want.status());
  REQUIRE_OK(got.status());
  int batches = 0;
  for (;;) {
    StatusOr<std::optional<Batch>> w = want->Next();
    StatusOr<std::optional<Batch>> g = got->Next();
    REQUIRE_OK(w.status());
    REQUIRE_OK(g.status());
    REQUIRE(w->has_value() == g->has_value());
    if (!*w) break;
    INFO("batch " << batches);
    REQUIRE((*g)->epoch == (*w)->epoch);
    REQUIRE((*g)->index == (*w)->index);
    REQUIRE((*g)->size == (*w)->size);
    RequireSameColumns((*g)->columns, (*w)->columns);
    ++batches;
  }
  REQUIRE(batches == 2 * 3);
}

TEST_CASE("Every flipped byte of an example-record file is DataLoss") {
  const std::string path = TempPath("good.kilnex");
  REQUIRE_OK(WriteExampleRecords(path, Columns(3)));
  const std::string good = ReadFile(path);
  const std::string bad_path = TempPath("flipped.kilnex");
  for (size_t i = 0; i < good.size(); ++i) {
    for (const char mask : {'\x01', '\x80'}) {
      std::string bad = good;
      bad[i] ^= mask;
      WriteFile(bad_path, bad);
      StatusOr<std::vector<Column>> read = ReadExampleRecords(bad_path);
      INFO("byte " << i << " of " << good.size() << " XOR " << int{static_cast<uint8_t>(mask)}
                   << ": " << read.status().ToString());
      REQUIRE(read.status().code() == KILN_DATA_LOSS);
      REQUIRE(Contains(read.status().message(), bad_path));
    }
  }
}

TEST_CASE("An example-record file cut anywhere but between records is DataLoss") {
  const std::string path = TempPath("whole.kilnex");
  const std::vector<Column> columns = Columns(3);
  REQUIRE_OK(WriteExampleRecords(path, columns));
  const std::string good = ReadFile(path);
  // The ends of the records, from the framing: a u64 length, then length + 16 bytes in all.
  std::vector<size_t> ends;
  for (size_t at = 0; at < good.size();) {
    uint64_t length = 0;
    for (int i = 0; i < 8; ++i) length |= uint64_t{static_cast<uint8_t>(good[at + i])} << (8 * i);
    at += 16 + length;
    ends.push_back(at);
  }
  REQUIRE(ends.size() == 4);
  REQUIRE(ends.back() == good.size());

  const std::string cut_path = TempPath("cut.kilnex");
  int valid = 0;
  for (size_t size = 0; size < good.size(); ++size) {
    WriteFile(cut_path, good.substr(0, size));
    StatusOr<std::vector<Column>> read = ReadExampleRecords(cut_path);
    INFO("cut to " << size << " of " << good.size() << " bytes: " << read.status().ToString());
    int64_t examples = -1;  // the examples before a cut between records
    for (size_t r = 0; r < ends.size(); ++r) {
      if (ends[r] == size) examples = static_cast<int64_t>(r);
    }
    if (examples >= 0) {
      // The documented exception: a shorter valid file.
      REQUIRE_OK(read.status());
      RequireSameColumns(*read, Head(columns, examples));
      ++valid;
    } else {
      REQUIRE(read.status().code() == KILN_DATA_LOSS);
      REQUIRE(Contains(read.status().message(), cut_path));
    }
  }
  REQUIRE(valid == 3);  // after the schema, after example 0, after example 1
}

TEST_CASE("A file that is not example records is InvalidArgument") {
  const std::string path = TempPath("not_examples.tfrecord");
  for (const std::string& first : {std::string("KILNEXv2") + Le(1, 4), std::string("KILN"),
                                   std::string(), std::string("\x0a\x05hello", 7)}) {
    WriteRecords(path, {first, "more"});
    StatusOr<std::vector<Column>> read = ReadExampleRecords(path);
    INFO(read.status().ToString());
    REQUIRE(read.status().code() == KILN_INVALID_ARGUMENT);
    REQUIRE(Contains(read.status().message(), path));
    REQUIRE(Contains(read.status().message(), "bad magic"));
  }
  // Not even TFRecord framing.
  WriteFile(path, "This is a text file, long enough to hold a record header.\n");
  StatusOr<std::vector<Column>> read = ReadExampleRecords(path);
  REQUIRE(read.status().code() == KILN_INVALID_ARGUMENT);
  REQUIRE(Contains(read.status().message(), path + "' is not an example-record file"));

  const std::string dir = FreshDir("a_directory");
  read = ReadExampleRecords(dir);
  REQUIRE(read.status().code() == KILN_INVALID_ARGUMENT);
  REQUIRE(Contains(read.status().message(), dir));
}

TEST_CASE("An example record of the wrong length is DataLoss naming it") {
  const std::string path = TempPath("lengths.kilnex");
  REQUIRE_OK(WriteExampleRecords(path, Columns(3)));
  const std::vector<std::string> records = ReadRecords(path);
  const std::string bad_path = TempPath("bad_length.kilnex");

  std::vector<std::string> longer = records;
  longer[2] += "x";
  WriteRecords(bad_path, longer);
  StatusOr<std::vector<Column>> read = ReadExampleRecords(bad_path);
  INFO(read.status().ToString());
  REQUIRE(read.status().code() == KILN_DATA_LOSS);
  REQUIRE(Contains(read.status().message(), bad_path + "' record 2 (example 1) holds " +
                                                std::to_string(records[2].size() + 1) + " bytes"));

  std::vector<std::string> shorter = records;
  shorter[3].pop_back();
  WriteRecords(bad_path, shorter);
  read = ReadExampleRecords(bad_path);
  REQUIRE(read.status().code() == KILN_DATA_LOSS);
  REQUIRE(Contains(read.status().message(), "record 3 (example 2)"));
}

TEST_CASE("A malformed schema is DataLoss") {
  const std::string path = TempPath("malformed.kilnex");
  const std::string head = std::string("KILNEXv1") + Le(1, 4) + Le(1, 4) + "x";
  for (const std::string& schema : {
           head + Le(9, 4) + Le(0, 4),              // unknown element type
           head + Le(0, 4) + Le(0, 4) + "!",        // a byte after the last column
           head + Le(0, 4) + Le(2, 4) + Le(3, 8),   // a shape that runs past the record
           head + Le(0, 4) + Le(1, 4) + Le(-3, 8),  // a negative extent
           std::string("KILNEXv1") + Le(0, 4),      // no columns
           std::string("KILNEXv1") + Le(2, 4) + Le(1, 4) + "x" + Le(0, 4) + Le(0, 4) + Le(1, 4) +
               "x" + Le(0, 4) + Le(0, 4),  // a name twice
       }) {
    WriteRecords(path, {schema});
    StatusOr<std::vector<Column>> read = ReadExampleRecords(path);
    INFO(read.status().ToString());
    REQUIRE(read.status().code() == KILN_DATA_LOSS);
    REQUIRE(Contains(read.status().message(), path + "' record 0: malformed schema"));
  }
}

TEST_CASE("Reading a missing example-record file is NotFound naming it") {
  const std::string path = TempPath("does_not_exist.kilnex");
  StatusOr<std::vector<Column>> read = ReadExampleRecords(path);
  REQUIRE(read.status().code() == KILN_NOT_FOUND);
  REQUIRE(Contains(read.status().message(), path));
  REQUIRE(ReadExampleDataset(path).status().code() == KILN_NOT_FOUND);
}

TEST_CASE("WriteExampleRecords rejects bad columns, writing nothing") {
  const std::string dir = FreshDir("bad_columns");
  const std::string path = dir + "/examples.kilnex";
  const std::vector<std::pair<std::vector<Column>, std::string>> cases = {
      {{}, "no columns"},
      {{Column::Of<uint8_t>("a", {2}, {1, 2}), Column::Of<float>("b", {3}, {1, 2, 3})},
       "column 'b' holds 3 examples, column 'a' 2"},
      {{Column::Of<uint8_t>("a", {2, 2}, {1, 2, 3})}, "column 'a': 3 bytes do not hold u8 [2, 2]"},
      {{Column::Of<uint8_t>("a", {1}, {1}), Column::Of<uint8_t>("a", {1}, {1})},
       "two columns are named 'a'"},
      {{Column::Of<uint8_t>("", {1}, {1})}, "column 0 has no name"},
      {{Column::Of<uint8_t>("a", {}, {1})}, "rank 0"},
      {{Column::Of<uint8_t>("a", {-1, 0}, {})}, "invalid shape [-1, 0]"},
  };
  for (const auto& [columns, message] : cases) {
    const Status status = WriteExampleRecords(path, columns);
    INFO(status.ToString());
    REQUIRE(status.code() == KILN_INVALID_ARGUMENT);
    REQUIRE(Contains(status.message(), "cannot write example records '" + path + "': "));
    REQUIRE(Contains(status.message(), message));
  }
  REQUIRE(DirEntries(dir) == std::set<std::string>{".", ".."});
}

TEST_CASE("WriteExampleRecords replaces a file atomically and leaves no temporary file") {
  const std::string dir = FreshDir("atomic");
  const std::string path = dir + "/examples.kilnex";
  REQUIRE_OK(WriteExampleRecords(path, Columns(2)));
  const std::string first = ReadFile(path);
  REQUIRE(WriteExampleRecords(path, {}).code() == KILN_INVALID_ARGUMENT);
  REQUIRE(ReadFile(path) == first);
  REQUIRE_OK(WriteExampleRecords(path, Columns(4)));
  StatusOr<std::vector<Column>> read = ReadExampleRecords(path);
  REQUIRE_OK(read.status());
  RequireSameColumns(*read, Columns(4));
  REQUIRE(DirEntries(dir) == std::set<std::string>{".", "..", "examples.kilnex"});

  const std::string nowhere = dir + "/no_such_dir/examples.kilnex";
  const Status status = WriteExampleRecords(nowhere, Columns(1));
  REQUIRE(status.code() == KILN_UNAVAILABLE);
  REQUIRE(Contains(status.message(), nowhere));
}

// 1000 examples of Fashion-MNIST's test split through a file.
TEST_CASE("Example records round-trip Debian's Fashion-MNIST") {
  StatusOr<FashionMnist> fm = LoadFashionMnist(kDefaultFashionMnistDir, "test");
  // The data is a dependency (setup.sh installs it), not an optional extra: missing, the test
  // fails.
  INFO("needs Debian's dataset-fashion-mnist (./setup.sh installs it)");
  REQUIRE_OK(fm.status());
  constexpr int64_t kExamples = 1000;
  const std::vector<Column> columns =
      Head({Column::Of<uint8_t>("image", fm->images.dims, fm->images.bytes),
            Column::Of<uint8_t>("label", fm->labels.dims, fm->labels.bytes)},
           kExamples);
  REQUIRE(columns[0].shape == std::vector<int64_t>{kExamples, 28, 28});
  const std::string path = TempPath("fashion_mnist.kilnex");
  REQUIRE_OK(WriteExampleRecords(path, columns));
  StatusOr<std::vector<Column>> read = ReadExampleRecords(path);
  REQUIRE_OK(read.status());
  RequireSameColumns(*read, columns);
  const std::vector<std::string> records = ReadRecords(path);
  REQUIRE(records.size() == 1 + kExamples);
  REQUIRE(records[1].size() == 28 * 28 + 1);
}

}  // namespace
}  // namespace rt
}  // namespace kiln
