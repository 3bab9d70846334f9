// TFRecord files: a sequence of records, each framed as
//   uint64 length | uint32 masked CRC-32C of length | data | uint32 masked CRC-32C of data
// (little-endian), the format TensorFlow and TensorBoard read. Kiln uses it for example records and
// event files.
#ifndef KILN_RUNTIME_DATA_TFRECORD_H_
#define KILN_RUNTIME_DATA_TFRECORD_H_

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "runtime/status.h"

namespace kiln {
namespace rt {

// Appends records to a file. Not thread-safe.
class TFRecordWriter {
 public:
  // Creates (truncates) `path`, or appends to it with `append`.
  static StatusOr<TFRecordWriter> Open(const std::string& path, bool append = false);
  TFRecordWriter(TFRecordWriter&& other) noexcept;
  TFRecordWriter& operator=(TFRecordWriter&& other) noexcept;
  ~TFRecordWriter();

  Status Write(const std::string& record);
  // Pushes buffered records to the OS (readers see them); Close also does.
  Status Flush();
  Status Close();

 private:
  TFRecordWriter(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  std::FILE* file_ = nullptr;
  std::string path_;
};

// Reads records in order, checking both checksums of each.
class TFRecordReader {
 public:
  static StatusOr<TFRecordReader> Open(const std::string& path);
  TFRecordReader(TFRecordReader&& other) noexcept;
  TFRecordReader& operator=(TFRecordReader&& other) noexcept;
  ~TFRecordReader();

  // The next record, or nullopt at the end of the file. DataLoss naming the file, the record's
  // index and byte offset for a truncated record or a checksum mismatch.
  StatusOr<std::optional<std::string>> Read();

 private:
  TFRecordReader(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  std::FILE* file_ = nullptr;
  std::string path_;
  int64_t index_ = 0;
  int64_t offset_ = 0;
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_DATA_TFRECORD_H_
