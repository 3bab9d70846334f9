#include "runtime/checkpoint/checkpoint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "runtime/atomic_file.h"
#include "runtime/crc32c.h"
#include "runtime/little_endian.h"

// Tensor data is copied as the host lays it out; the format says little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "checkpoints need a little-endian host");

namespace kiln {
namespace rt {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'C', 'K', 'P', 'T'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderSize = 40;
// Fingerprint size, tensor count and the index's CRC.
constexpr uint64_t kMinIndexSize = 12;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::string Quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

Status IoError(const std::string& what, const std::string& path) {
  return UnavailableError(what + " " + Quoted(path) + ": " + std::strerror(errno));
}

// A read that came up short: an I/O error, or the file shrank under us.
Status ReadError(std::FILE* file, const std::string& path) {
  return std::ferror(file) ? IoError("cannot read checkpoint", path)
                           : DataLossError("checkpoint " + Quoted(path) + " is truncated");
}

// "f32[784,512]"; "i64[]" for a scalar.
std::string TypeString(kiln_dtype dtype, const int64_t* shape, size_t rank) {
  std::string s = std::string(kiln_dtype_name(dtype)) + "[";
  for (size_t d = 0; d < rank; ++d) s += (d ? "," : "") + std::to_string(shape[d]);
  return s + "]";
}

// The data size of a tensor; false for a negative dim or a size beyond 64 bits.
bool DataBytes(kiln_dtype dtype, const int64_t* shape, size_t rank, uint64_t* bytes) {
  uint64_t b = kiln_dtype_size(dtype);
  for (size_t d = 0; d < rank; ++d) {
    if (shape[d] < 0 || __builtin_mul_overflow(b, static_cast<uint64_t>(shape[d]), &b))
      return false;
  }
  *bytes = b;
  return true;
}

// The dtype numbered `number`; false for a number that names none, which a kiln_dtype must not
// hold.
bool DtypeOf(uint64_t number, kiln_dtype* dtype) {
  for (kiln_dtype d :
       {KILN_F32, KILN_F64, KILN_F16, KILN_BF16, KILN_I8, KILN_I32, KILN_I64, KILN_BOOL}) {
    if (number == d) {
      *dtype = d;
      return true;
    }
  }
  return false;
}

Status CheckTensors(const kiln_tensor* tensors, size_t n) {
  std::unordered_set<std::string_view> names;
  for (size_t i = 0; i < n; ++i) {
    const kiln_tensor& t = tensors[i];
    if (t.name == nullptr || t.name[0] == '\0') {
      return InvalidArgumentError("tensor " + std::to_string(i) + " has no name");
    }
    const std::string tensor = "tensor " + Quoted(t.name);
    if (!names.insert(t.name).second) return InvalidArgumentError(tensor + " appears twice");
    if (kiln_dtype_size(t.dtype) == 0) {
      return InvalidArgumentError(tensor + " has unknown dtype " + std::to_string(t.dtype));
    }
    if (t.rank < 0) return InvalidArgumentError(tensor + " has rank " + std::to_string(t.rank));
    if (t.rank > 0 && t.shape == nullptr) return InvalidArgumentError(tensor + " has no shape");
    uint64_t bytes;
    if (!DataBytes(t.dtype, t.shape, t.rank, &bytes)) {
      return InvalidArgumentError(tensor + " has invalid shape " +
                                  TypeString(t.dtype, t.shape, t.rank));
    }
    if (bytes > 0 && t.data == nullptr) return InvalidArgumentError(tensor + " has no data");
  }
  return OkStatus();
}

struct Entry {
  CheckpointTensorInfo info;
  uint64_t bytes;
  uint64_t offset;  // from the start of the data
  uint32_t crc;
};

struct Index {
  int64_t step;
  std::string fingerprint;
  std::vector<Entry> entries;
  uint64_t data_bytes;
};

StatusOr<File> OpenForRead(const std::string& path) {
  File file(std::fopen(path.c_str(), "rbe"));
  if (file == nullptr) {
    if (errno == ENOENT) return NotFoundError("no checkpoint " + Quoted(path));
    return IoError("cannot open checkpoint", path);
  }
  return file;
}

// Reads and checks the header and the index, and leaves `file` at the start of the data.
StatusOr<Index> ReadIndex(std::FILE* file, const std::string& path) {
  const std::string checkpoint = "checkpoint " + Quoted(path);
  struct stat st;
  if (fstat(fileno(file), &st) != 0) return IoError("cannot stat checkpoint", path);
  const uint64_t size = st.st_size;

  char header[kHeaderSize];
  const size_t got = std::fread(header, 1, kHeaderSize, file);
  if (got >= sizeof(kMagic) && std::memcmp(header, kMagic, sizeof(kMagic)) != 0) {
    return DataLossError(checkpoint + " is not a Kiln checkpoint (bad magic)");
  }
  if (got < kHeaderSize) {
    if (std::ferror(file)) return IoError("cannot read checkpoint", path);
    return DataLossError(checkpoint + " is truncated: " + std::to_string(size) +
                         " bytes, less than the " + std::to_string(kHeaderSize) + "-byte header");
  }
  const uint64_t version = GetLittleEndian(header + 8, 4);
  if (version != kVersion) {
    return FailedPreconditionError(checkpoint + " has format version " + std::to_string(version) +
                                   "; this build reads version " + std::to_string(kVersion));
  }
  if (UnmaskCrc32c(GetLittleEndian(header + 36, 4)) != Crc32c(header, 36)) {
    return DataLossError(checkpoint + " is corrupt: header checksum mismatch");
  }
  const uint64_t index_offset = GetLittleEndian(header + 20, 8);
  const uint64_t file_size = GetLittleEndian(header + 28, 8);
  if (size != file_size) {
    return DataLossError(
        checkpoint + (size < file_size ? " is truncated: " : " has trailing bytes: ") +
        std::to_string(size) + " bytes, the header says " + std::to_string(file_size));
  }
  const Status malformed = DataLossError(checkpoint + " is corrupt: malformed index");
  if (index_offset < kHeaderSize || index_offset > file_size ||
      file_size - index_offset < kMinIndexSize) {
    return malformed;
  }

  std::string index(file_size - index_offset, '\0');
  if (fseeko(file, index_offset, SEEK_SET) != 0) return IoError("cannot seek in checkpoint", path);
  if (std::fread(index.data(), 1, index.size(), file) != index.size()) return ReadError(file, path);
  const size_t body = index.size() - 4;
  if (UnmaskCrc32c(GetLittleEndian(index.data() + body, 4)) != Crc32c(index.data(), body)) {
    return DataLossError(checkpoint + " is corrupt: index checksum mismatch");
  }

  // Past the CRC, the index is what a writer wrote; a malformed one comes from a broken writer.
  Index out{
      static_cast<int64_t>(GetLittleEndian(header + 12, 8)), "", {}, index_offset - kHeaderSize};
  LittleEndianReader cursor(index.data(), index.data() + body);
  uint64_t count;
  if (!cursor.Str(&out.fingerprint) || !cursor.U(4, &count)) return malformed;
  std::unordered_set<std::string> names;
  uint64_t offset = 0;
  for (uint64_t i = 0; i < count; ++i) {
    Entry e;
    uint64_t dtype, rank, crc;
    // The rank is bounded by the bytes left before the shape is allocated.
    if (!cursor.Str(&e.info.name) || !cursor.U(4, &dtype) || !DtypeOf(dtype, &e.info.dtype) ||
        !cursor.U(4, &rank) || rank > cursor.left() / 8) {
      return malformed;
    }
    e.info.shape.resize(rank);
    for (int64_t& dim : e.info.shape) {
      uint64_t v;
      if (!cursor.U(8, &v)) return malformed;
      dim = static_cast<int64_t>(v);
    }
    uint64_t expected_bytes;
    if (!cursor.U(8, &e.bytes) || !cursor.U(4, &crc) ||
        !DataBytes(e.info.dtype, e.info.shape.data(), rank, &expected_bytes) ||
        e.bytes != expected_bytes || e.bytes > out.data_bytes - offset ||
        !names.insert(e.info.name).second) {
      return malformed;
    }
    e.offset = offset;
    e.crc = UnmaskCrc32c(crc);
    offset += e.bytes;
    out.entries.push_back(std::move(e));
  }
  if (cursor.left() != 0 || offset != out.data_bytes) return malformed;
  if (fseeko(file, kHeaderSize, SEEK_SET) != 0) return IoError("cannot seek in checkpoint", path);
  return out;
}

// Reads the next `entry.bytes` bytes of `file` into `dest` (through a bounded scratch buffer when
// null) and checks them against the entry's CRC.
Status ReadData(std::FILE* file, const std::string& path, const Entry& entry, char* dest) {
  constexpr uint64_t kChunk = uint64_t{1} << 20;
  std::vector<char> scratch(dest == nullptr ? std::min(entry.bytes, kChunk) : 0);
  uint32_t crc = 0;
  for (uint64_t done = 0; done < entry.bytes;) {
    const size_t n = std::min(entry.bytes - done, kChunk);
    char* buffer = dest == nullptr ? scratch.data() : dest + done;
    if (std::fread(buffer, 1, n, file) != n) return ReadError(file, path);
    crc = Crc32c(buffer, n, crc);
    done += n;
  }
  if (crc != entry.crc) {
    return DataLossError("checkpoint " + Quoted(path) +
                         " is corrupt: data checksum mismatch in variable " +
                         Quoted(entry.info.name));
  }
  return OkStatus();
}

// How `tensors` differ from the checkpoint's variables, one line per variable; empty if they match.
// Fills `sources[i]` with the entry for tensors[i].
std::vector<std::string> Mismatches(const Index& index, const kiln_tensor* tensors, size_t n,
                                    std::vector<const Entry*>* sources) {
  std::unordered_map<std::string_view, const Entry*> by_name;
  for (const Entry& e : index.entries) by_name.emplace(e.info.name, &e);
  std::vector<std::string> mismatches;
  std::unordered_set<std::string_view> model_names;
  for (size_t i = 0; i < n; ++i) {
    const kiln_tensor& t = tensors[i];
    model_names.insert(t.name);
    auto it = by_name.find(t.name);
    if (it == by_name.end()) {
      mismatches.push_back("variable " + Quoted(t.name) + " is not in the checkpoint");
      continue;
    }
    const CheckpointTensorInfo& info = it->second->info;
    if (info.dtype != t.dtype ||
        !std::equal(info.shape.begin(), info.shape.end(), t.shape, t.shape + t.rank)) {
      mismatches.push_back("variable " + Quoted(t.name) + ": checkpoint has " +
                           TypeString(info.dtype, info.shape.data(), info.shape.size()) +
                           ", the model has " + TypeString(t.dtype, t.shape, t.rank));
    }
    (*sources)[i] = it->second;
  }
  for (const Entry& e : index.entries) {
    if (model_names.count(e.info.name) == 0) {
      mismatches.push_back("checkpoint variable " + Quoted(e.info.name) + " is not in the model");
    }
  }
  return mismatches;
}

}  // namespace

Status SaveCheckpoint(const std::string& path, const kiln_tensor* tensors, size_t n, int64_t step,
                      const std::string& fingerprint) {
  KILN_RT_RETURN_IF_ERROR(CheckTensors(tensors, n));
  // The index, each tensor's CRC left as a hole that is filled as its data is written.
  std::string index;
  AppendLittleEndian(&index, fingerprint.size(), 4);
  index += fingerprint;
  AppendLittleEndian(&index, n, 4);
  std::vector<size_t> crc_at(n);
  uint64_t data_bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    const kiln_tensor& t = tensors[i];
    const size_t name_size = std::strlen(t.name);
    AppendLittleEndian(&index, name_size, 4);
    index.append(t.name, name_size);
    AppendLittleEndian(&index, t.dtype, 4);
    AppendLittleEndian(&index, t.rank, 4);
    for (int32_t d = 0; d < t.rank; ++d) AppendLittleEndian(&index, t.shape[d], 8);
    AppendLittleEndian(&index, kiln_tensor_bytes(&t), 8);
    crc_at[i] = index.size();
    AppendLittleEndian(&index, 0, 4);
    data_bytes += kiln_tensor_bytes(&t);
  }
  const uint64_t index_offset = kHeaderSize + data_bytes;
  std::string header(kMagic, sizeof(kMagic));
  AppendLittleEndian(&header, kVersion, 4);
  AppendLittleEndian(&header, step, 8);
  AppendLittleEndian(&header, index_offset, 8);
  AppendLittleEndian(&header, index_offset + index.size() + 4, 8);
  AppendLittleEndian(&header, MaskCrc32c(Crc32c(header.data(), header.size())), 4);

  const std::string temp = TempPathFor(path);
  const auto error = [&](const std::string& what, const std::string& file) {
    return IoError("cannot save checkpoint " + Quoted(path) + ": " + what, file);
  };
  std::FILE* file = std::fopen(temp.c_str(), "wbe");
  if (file == nullptr) return error("cannot create", temp);
  const auto write = [&]() -> Status {
    // Tensors without elements may have no data pointer, which fwrite must not see.
    const auto put = [&](const void* data, size_t size) {
      return size == 0 || std::fwrite(data, 1, size, file) == size;
    };
    if (!put(header.data(), header.size())) return error("cannot write", temp);
    for (size_t i = 0; i < n; ++i) {
      const size_t bytes = kiln_tensor_bytes(&tensors[i]);
      PutLittleEndian(&index[crc_at[i]], MaskCrc32c(Crc32c(tensors[i].data, bytes)), 4);
      if (!put(tensors[i].data, bytes)) return error("cannot write", temp);
    }
    AppendLittleEndian(&index, MaskCrc32c(Crc32c(index.data(), index.size())), 4);
    if (!put(index.data(), index.size()) || std::fflush(file) != 0 || fsync(fileno(file)) != 0) {
      return error("cannot write", temp);
    }
    return OkStatus();
  };
  Status status = write();
  if (std::fclose(file) != 0 && status.ok()) status = error("cannot write", temp);
  if (!status.ok()) {
    std::remove(temp.c_str());
    return status;
  }
  status = CommitTempFile(temp, path);
  if (!status.ok())
    return Status(status.code(),
                  "cannot save checkpoint " + Quoted(path) + ": " + status.message());
  return status;
}

Status LoadCheckpoint(const std::string& path, kiln_tensor* tensors, size_t n,
                      const std::string& expected_fingerprint, int64_t* step) {
  KILN_RT_RETURN_IF_ERROR(CheckTensors(tensors, n));
  KILN_RT_ASSIGN_OR_RETURN(File file, OpenForRead(path));
  KILN_RT_ASSIGN_OR_RETURN(Index index, ReadIndex(file.get(), path));
  const std::string checkpoint = "checkpoint " + Quoted(path);
  if (!expected_fingerprint.empty() && !index.fingerprint.empty() &&
      expected_fingerprint != index.fingerprint) {
    return FailedPreconditionError(checkpoint + " is of another graph: its fingerprint is " +
                                   Quoted(index.fingerprint) + ", the model's is " +
                                   Quoted(expected_fingerprint));
  }
  std::vector<const Entry*> sources(n);
  const std::vector<std::string> mismatches = Mismatches(index, tensors, n, &sources);
  if (!mismatches.empty()) {
    // Enough to see the pattern; a checkpoint of another model would list every variable.
    constexpr size_t kShown = 10;
    std::string message = checkpoint + " does not match the model: ";
    for (size_t i = 0; i < std::min(mismatches.size(), kShown); ++i)
      message += (i ? "; " : "") + mismatches[i];
    if (mismatches.size() > kShown)
      message += "; and " + std::to_string(mismatches.size() - kShown) + " more";
    return FailedPreconditionError(message);
  }

  std::unique_ptr<char[]> staging(new (std::nothrow) char[index.data_bytes]);
  if (staging == nullptr) {
    return ResourceExhaustedError("cannot load " + checkpoint + ": no memory to stage " +
                                  std::to_string(index.data_bytes) + " bytes");
  }
  for (const Entry& e : index.entries) {
    KILN_RT_RETURN_IF_ERROR(ReadData(file.get(), path, e, staging.get() + e.offset));
  }
  for (size_t i = 0; i < n; ++i) {
    if (sources[i]->bytes > 0)
      std::memcpy(tensors[i].data, staging.get() + sources[i]->offset, sources[i]->bytes);
  }
  if (step != nullptr) *step = index.step;
  return OkStatus();
}

StatusOr<CheckpointInfo> ReadCheckpointInfo(const std::string& path) {
  KILN_RT_ASSIGN_OR_RETURN(File file, OpenForRead(path));
  KILN_RT_ASSIGN_OR_RETURN(Index index, ReadIndex(file.get(), path));
  CheckpointInfo info{index.step, std::move(index.fingerprint), {}};
  for (Entry& e : index.entries) {
    KILN_RT_RETURN_IF_ERROR(ReadData(file.get(), path, e, nullptr));
    info.tensors.push_back(std::move(e.info));
  }
  return info;
}

}  // namespace rt
}  // namespace kiln
