#include "runtime/data/tfrecord.h"

#include <cerrno>
#include <cstring>
#include <utility>

#include "runtime/crc32c.h"
#include "runtime/little_endian.h"

namespace kiln {
namespace rt {
namespace {

Status IoError(const std::string& what, const std::string& path) {
  return UnavailableError(what + " '" + path + "': " + std::strerror(errno));
}

}  // namespace

StatusOr<TFRecordWriter> TFRecordWriter::Open(const std::string& path, bool append) {
  std::FILE* file = std::fopen(path.c_str(), append ? "ab" : "wb");
  if (file == nullptr) return IoError("cannot open for writing", path);
  return TFRecordWriter(file, path);
}

TFRecordWriter::TFRecordWriter(TFRecordWriter&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)), path_(std::move(other.path_)) {}

TFRecordWriter& TFRecordWriter::operator=(TFRecordWriter&& other) noexcept {
  if (this != &other) {
    (void)Close();  // nowhere to report an error: callers who care call Close() first
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

TFRecordWriter::~TFRecordWriter() { (void)Close(); }  // as above

Status TFRecordWriter::Write(const std::string& record) {
  if (file_ == nullptr)
    return FailedPreconditionError("TFRecordWriter for '" + path_ + "' is closed");
  char header[12], footer[4];
  PutLittleEndian(header, record.size(), 8);
  PutLittleEndian(header + 8, MaskCrc32c(Crc32c(header, 8)), 4);
  PutLittleEndian(footer, MaskCrc32c(Crc32c(record.data(), record.size())), 4);
  if (std::fwrite(header, 1, 12, file_) != 12 ||
      std::fwrite(record.data(), 1, record.size(), file_) != record.size() ||
      std::fwrite(footer, 1, 4, file_) != 4) {
    return IoError("cannot write", path_);
  }
  return OkStatus();
}

Status TFRecordWriter::Flush() {
  if (file_ != nullptr && std::fflush(file_) != 0) return IoError("cannot write", path_);
  return OkStatus();
}

Status TFRecordWriter::Close() {
  if (file_ == nullptr) return OkStatus();
  const bool ok = std::fclose(file_) == 0;
  file_ = nullptr;
  return ok ? OkStatus() : IoError("cannot write", path_);
}

StatusOr<TFRecordReader> TFRecordReader::Open(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return IoError("cannot open", path);
  return TFRecordReader(file, path);
}

TFRecordReader::TFRecordReader(TFRecordReader&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)),
      path_(std::move(other.path_)),
      index_(other.index_),
      offset_(other.offset_) {}

TFRecordReader& TFRecordReader::operator=(TFRecordReader&& other) noexcept {
  if (this != &other) {
    if (file_ != nullptr) std::fclose(file_);
    file_ = std::exchange(other.file_, nullptr);
    path_ = std::move(other.path_);
    index_ = other.index_;
    offset_ = other.offset_;
  }
  return *this;
}

TFRecordReader::~TFRecordReader() {
  if (file_ != nullptr) std::fclose(file_);
}

StatusOr<std::optional<std::string>> TFRecordReader::Read() {
  if (file_ == nullptr)
    return FailedPreconditionError("TFRecordReader for '" + path_ + "' is closed");
  const std::string where =
      "'" + path_ + "' record " + std::to_string(index_) + " at byte " + std::to_string(offset_);
  char header[12];
  const size_t got = std::fread(header, 1, 12, file_);
  if (got == 0 && std::feof(file_)) return std::optional<std::string>();
  if (got != 12)
    return DataLossError(where + ": truncated header (" + std::to_string(got) + " of 12 bytes)");
  if (UnmaskCrc32c(static_cast<uint32_t>(GetLittleEndian(header + 8, 4))) != Crc32c(header, 8)) {
    return DataLossError(where + ": corrupt length (checksum mismatch)");
  }
  const uint64_t length = GetLittleEndian(header, 8);
  // A length that passed its checksum is what was written; still, never allocate beyond the file.
  const long here = std::ftell(file_);
  std::fseek(file_, 0, SEEK_END);
  const long end = std::ftell(file_);
  std::fseek(file_, here, SEEK_SET);
  if (length + 4 > static_cast<uint64_t>(end - here)) {
    return DataLossError(where + ": truncated record (" + std::to_string(length) +
                         " bytes + checksum declared, " + std::to_string(end - here) +
                         " left in the file)");
  }
  std::string data(length, '\0');
  char footer[4];
  if (std::fread(data.data(), 1, length, file_) != length || std::fread(footer, 1, 4, file_) != 4) {
    return DataLossError(where + ": read failed");
  }
  if (UnmaskCrc32c(static_cast<uint32_t>(GetLittleEndian(footer, 4))) !=
      Crc32c(data.data(), data.size())) {
    return DataLossError(where + ": corrupt data (checksum mismatch)");
  }
  ++index_;
  offset_ += 16 + static_cast<int64_t>(length);
  return std::optional<std::string>(std::move(data));
}

}  // namespace rt
}  // namespace kiln
