#include "runtime/data/example_records.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

#include "runtime/atomic_file.h"
#include "runtime/crc32c.h"
#include "runtime/data/tfrecord.h"
#include "runtime/little_endian.h"

// Column bytes are copied as the host lays them out; the format says little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "example records need a little-endian host");

namespace kiln {
namespace rt {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'E', 'X', 'v', '1'};
// A TFRecord header: u64 length and the u32 masked CRC of it.
constexpr size_t kFrameHeader = 12;
// Framing bytes per record: the header and the data's CRC.
constexpr uint64_t kFrameBytes = 16;

// The file's numbering of element types, spelled out so that reordering ElementType cannot change
// it.
uint32_t TypeCode(ElementType type) {
  switch (type) {
    case ElementType::kU8: return 0;
    case ElementType::kI32: return 1;
    case ElementType::kI64: return 2;
    case ElementType::kF32: return 3;
    case ElementType::kF64: return 4;
  }
  return UINT32_MAX;
}

bool TypeOfCode(uint64_t code, ElementType* type) {
  for (ElementType t : {ElementType::kU8, ElementType::kI32, ElementType::kI64, ElementType::kF32,
                        ElementType::kF64}) {
    if (TypeCode(t) == code) {
      *type = t;
      return true;
    }
  }
  return false;
}

// The bytes of one example of `type` with per-example extents [begin, end); false for a negative
// extent or a size beyond 64 bits.
bool ExampleBytes(ElementType type, const int64_t* begin, const int64_t* end, uint64_t* bytes) {
  uint64_t b = ElementSize(type);
  for (const int64_t* d = begin; d != end; ++d) {
    if (*d < 0 || __builtin_mul_overflow(b, static_cast<uint64_t>(*d), &b)) return false;
  }
  *bytes = b;
  return true;
}

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Dataset::FromColumns' checks, without the copy of the data that calling it would take. Fills each
// column's bytes per example.
Status ValidateColumns(const std::vector<Column>& columns, std::vector<uint64_t>* example_bytes) {
  if (columns.empty()) return InvalidArgumentError("no columns (at least one holds the examples)");
  for (size_t i = 0; i < columns.size(); ++i) {
    const Column& c = columns[i];
    if (c.name.empty()) return InvalidArgumentError("column " + std::to_string(i) + " has no name");
    const std::string column = "column " + Quoted(c.name);
    for (size_t j = 0; j < i; ++j) {
      if (columns[j].name == c.name)
        return InvalidArgumentError("two columns are named " + Quoted(c.name));
    }
    if (ElementSize(c.type) == 0) {
      return InvalidArgumentError(column + " has unknown element type " +
                                  std::to_string(static_cast<int>(c.type)));
    }
    if (c.shape.empty())
      return InvalidArgumentError(column + " has rank 0 (the first dimension indexes examples)");
    uint64_t bytes, total;
    if (!ExampleBytes(c.type, c.shape.data() + 1, c.shape.data() + c.shape.size(), &bytes) ||
        c.shape[0] < 0 ||
        __builtin_mul_overflow(bytes, static_cast<uint64_t>(c.shape[0]), &total)) {
      return InvalidArgumentError(column + " has invalid shape " + ShapeString(c.shape));
    }
    if (total != c.bytes.size()) {
      return InvalidArgumentError(column + ": " + std::to_string(c.bytes.size()) +
                                  " bytes do not hold " + ElementTypeName(c.type) + " " +
                                  ShapeString(c.shape));
    }
    if (c.rows() != columns[0].rows()) {
      return InvalidArgumentError(column + " holds " + std::to_string(c.rows()) +
                                  " examples, column " + Quoted(columns[0].name) + " " +
                                  std::to_string(columns[0].rows()));
    }
    example_bytes->push_back(bytes);
  }
  return OkStatus();
}

std::string Schema(const std::vector<Column>& columns) {
  std::string schema(kMagic, sizeof(kMagic));
  AppendLittleEndian(&schema, columns.size(), 4);
  for (const Column& c : columns) {
    AppendLittleEndian(&schema, c.name.size(), 4);
    schema += c.name;
    AppendLittleEndian(&schema, TypeCode(c.type), 4);
    AppendLittleEndian(&schema, c.shape.size() - 1, 4);
    for (size_t d = 1; d < c.shape.size(); ++d) AppendLittleEndian(&schema, c.shape[d], 8);
  }
  return schema;
}

// Parses a schema record whose magic has been checked; the columns come out with 0 examples.
StatusOr<std::vector<Column>> ParseSchema(const std::string& record, const std::string& path,
                                          std::vector<uint64_t>* example_bytes) {
  // Past the CRC the schema is what a writer wrote; a malformed one comes from a broken writer.
  const auto malformed = [&](const std::string& what) {
    return DataLossError(Quoted(path) + " record 0: malformed schema: " + what);
  };
  LittleEndianReader cursor(record);
  uint64_t unused, count;
  cursor.U(sizeof(kMagic), &unused);
  if (!cursor.U(4, &count)) return malformed("no column count");
  if (count == 0) return malformed("no columns");
  std::vector<Column> columns;
  for (uint64_t i = 0; i < count; ++i) {
    Column c;
    uint64_t code, rank;
    if (!cursor.Str(&c.name) || c.name.empty())
      return malformed("column " + std::to_string(i) + " has no name");
    if (!cursor.U(4, &code) || !TypeOfCode(code, &c.type)) {
      return malformed("column " + Quoted(c.name) + " has no element type or an unknown one");
    }
    // The rank is bounded by the bytes left before the shape is allocated.
    if (!cursor.U(4, &rank) || rank > cursor.left() / 8) {
      return malformed("column " + Quoted(c.name) + " has a shape that runs past the record");
    }
    c.shape.assign(1 + rank, 0);
    for (size_t d = 1; d <= rank; ++d) {
      uint64_t v = 0;  // the rank check above leaves room for every extent
      cursor.U(8, &v);
      c.shape[d] = static_cast<int64_t>(v);
    }
    uint64_t bytes;
    if (!ExampleBytes(c.type, c.shape.data() + 1, c.shape.data() + c.shape.size(), &bytes)) {
      return malformed("column " + Quoted(c.name) + " has invalid shape " + ShapeString(c.shape));
    }
    for (const Column& before : columns) {
      if (before.name == c.name) return malformed("two columns are named " + Quoted(c.name));
    }
    example_bytes->push_back(bytes);
    columns.push_back(std::move(c));
  }
  if (cursor.left() != 0)
    return malformed(std::to_string(cursor.left()) + " bytes after the last column");
  return columns;
}

// Opens `path` once before TFRecordReader does, for what its errors cannot say: NotFound for a
// missing file, and InvalidArgument for a file that is not TFRecord framing around our magic at all
// (its first frame's length CRC fails AND the magic is not where it would be; one corrupted byte
// cannot do both). Returns the file's size.
StatusOr<uint64_t> Probe(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rbe");
  if (file == nullptr) {
    if (errno == ENOENT) return NotFoundError("no example-record file " + Quoted(path));
    return UnavailableError("cannot open example-record file " + Quoted(path) + ": " +
                            std::strerror(errno));
  }
  char head[kFrameHeader + sizeof(kMagic)];
  const size_t got = std::fread(head, 1, sizeof(head), file);
  struct stat st;
  const bool stat_ok = fstat(fileno(file), &st) == 0;
  std::fclose(file);
  if (!stat_ok) return UnavailableError("cannot stat example-record file " + Quoted(path));
  if (S_ISDIR(st.st_mode))
    return InvalidArgumentError(Quoted(path) + " is a directory, not an example-record file");
  if (got == sizeof(head) &&
      UnmaskCrc32c(static_cast<uint32_t>(GetLittleEndian(head + 8, 4))) != Crc32c(head, 8) &&
      std::memcmp(head + kFrameHeader, kMagic, sizeof(kMagic)) != 0) {
    return InvalidArgumentError(Quoted(path) +
                                " is not an example-record file (not TFRecord framing)");
  }
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

Status WriteExampleRecords(const std::string& path, const std::vector<Column>& columns) {
  const auto error = [&](const Status& status) {
    return Status(status.code(),
                  "cannot write example records " + Quoted(path) + ": " + status.message());
  };
  std::vector<uint64_t> example_bytes;
  const Status valid = ValidateColumns(columns, &example_bytes);
  if (!valid.ok()) return error(valid);

  const std::string temp = TempPathFor(path);
  const auto write = [&]() -> Status {
    StatusOr<TFRecordWriter> writer = TFRecordWriter::Open(temp);
    if (!writer.ok()) return error(writer.status());
    Status status = writer->Write(Schema(columns));
    std::string example;
    for (int64_t row = 0; status.ok() && row < columns[0].rows(); ++row) {
      example.clear();
      for (size_t c = 0; c < columns.size(); ++c) {
        example.append(
            reinterpret_cast<const char*>(columns[c].bytes.data()) + row * example_bytes[c],
            example_bytes[c]);
      }
      status = writer->Write(example);
    }
    const Status closed = writer->Close();
    if (!status.ok()) return error(status);
    if (!closed.ok()) return error(closed);
    // TFRecordWriter keeps its descriptor to itself: sync the file by name.
    const Status synced = SyncFile(temp);
    return synced.ok() ? synced : error(synced);
  };
  Status status = write();
  if (!status.ok()) {
    std::remove(temp.c_str());
    return status;
  }
  status = CommitTempFile(temp, path);
  return status.ok() ? status : error(status);
}

StatusOr<std::vector<Column>> ReadExampleRecords(const std::string& path) {
  KILN_RT_ASSIGN_OR_RETURN(const uint64_t file_size, Probe(path));
  KILN_RT_ASSIGN_OR_RETURN(TFRecordReader reader, TFRecordReader::Open(path));
  KILN_RT_ASSIGN_OR_RETURN(std::optional<std::string> schema, reader.Read());
  if (!schema) return DataLossError(Quoted(path) + " is empty: no schema record");
  if (schema->size() < sizeof(kMagic) || std::memcmp(schema->data(), kMagic, sizeof(kMagic)) != 0) {
    return InvalidArgumentError(
        Quoted(path) + " is not an example-record file (bad magic: record 0 does not begin " +
        "with \"" + std::string(kMagic, sizeof(kMagic)) + "\")");
  }
  std::vector<uint64_t> example_bytes;
  KILN_RT_ASSIGN_OR_RETURN(std::vector<Column> columns, ParseSchema(*schema, path, &example_bytes));
  uint64_t record_bytes = 0;
  for (uint64_t b : example_bytes) {
    if (__builtin_add_overflow(record_bytes, b, &record_bytes)) {
      return DataLossError(Quoted(path) + " record 0: malformed schema: examples beyond 64 bits");
    }
  }
  // Room for as many examples as the rest of the file can hold, so reading does not regrow the
  // columns.
  const uint64_t after_schema = kFrameBytes + schema->size();
  if (file_size > after_schema && record_bytes < UINT64_MAX - kFrameBytes) {
    const uint64_t most = (file_size - after_schema) / (kFrameBytes + record_bytes);
    for (size_t c = 0; c < columns.size(); ++c) columns[c].bytes.reserve(most * example_bytes[c]);
  }

  int64_t examples = 0;
  for (;;) {
    KILN_RT_ASSIGN_OR_RETURN(std::optional<std::string> record, reader.Read());
    if (!record) break;
    if (record->size() != record_bytes) {
      return DataLossError(Quoted(path) + " record " + std::to_string(examples + 1) + " (example " +
                           std::to_string(examples) + ") holds " + std::to_string(record->size()) +
                           " bytes; the schema's examples take " + std::to_string(record_bytes));
    }
    const auto* p = reinterpret_cast<const uint8_t*>(record->data());
    for (size_t c = 0; c < columns.size(); ++c) {
      columns[c].bytes.insert(columns[c].bytes.end(), p, p + example_bytes[c]);
      p += example_bytes[c];
    }
    ++examples;
  }
  for (Column& c : columns) c.shape[0] = examples;
  return columns;
}

StatusOr<Dataset> ReadExampleDataset(const std::string& path) {
  KILN_RT_ASSIGN_OR_RETURN(std::vector<Column> columns, ReadExampleRecords(path));
  return Dataset::FromColumns(std::move(columns));
}

}  // namespace rt
}  // namespace kiln
