#include "runtime/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace kiln {
namespace rt {
namespace {

struct GzClose {
  void operator()(gzFile file) const { gzclose(file); }
};
using GzFile = std::unique_ptr<gzFile_s, GzClose>;

std::string Quoted(const std::string& path) { return "'" + path + "'"; }

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

std::string Hex(unsigned value, int digits) {
  char buffer[16];
  std::snprintf(buffer, sizeof(buffer), "0x%0*x", digits, value);
  return buffer;
}

Status GzError(gzFile file, const std::string& path) {
  int code = Z_OK;
  std::string message = gzerror(file, &code);
  if (code == Z_ERRNO)
    return UnavailableError("cannot read " + Quoted(path) + ": " + std::strerror(errno));
  // zlib's message starts with the path.
  if (message.rfind(path + ": ", 0) == 0) message.erase(0, path.size() + 2);
  return DataLossError(Quoted(path) + ": corrupt gzip stream: " + message);
}

// Reads `n` bytes, or fewer when the data ends first.
StatusOr<size_t> Read(gzFile file, const std::string& path, uint8_t* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    // gzread takes an unsigned length and returns an int.
    const int r =
        gzread(file, out + got, static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30)));
    if (r < 0) return GzError(file, path);
    if (r == 0) break;
    got += r;
  }
  return got;
}

// IDX stores elements big-endian; rebuilds each in the host's order, whichever that is.
template <typename U>
void BigEndianToHost(std::vector<uint8_t>& bytes) {
  for (size_t i = 0; i < bytes.size(); i += sizeof(U)) {
    U v = 0;
    for (size_t b = 0; b < sizeof(U); ++b) v = static_cast<U>(v << 8 | bytes[i + b]);
    std::memcpy(&bytes[i], &v, sizeof(U));
  }
}

}  // namespace

size_t IdxTypeSize(IdxType type) {
  switch (type) {
    case IdxType::kU8:
    case IdxType::kI8: return 1;
    case IdxType::kI16: return 2;
    case IdxType::kI32:
    case IdxType::kF32: return 4;
    case IdxType::kF64: return 8;
  }
  return 0;
}

const char* IdxTypeName(IdxType type) {
  switch (type) {
    case IdxType::kU8: return "u8";
    case IdxType::kI8: return "i8";
    case IdxType::kI16: return "i16";
    case IdxType::kI32: return "i32";
    case IdxType::kF32: return "f32";
    case IdxType::kF64: return "f64";
  }
  return "?";
}

StatusOr<IdxArray> ReadIdx(const std::string& path) {
  errno = 0;
  GzFile file(gzopen(path.c_str(), "rb"));
  if (file == nullptr) {
    const std::string why = errno ? std::strerror(errno) : "out of memory";
    if (errno == ENOENT) return NotFoundError("cannot open " + Quoted(path) + ": " + why);
    return UnavailableError("cannot open " + Quoted(path) + ": " + why);
  }

  uint8_t header[4];
  KILN_RT_ASSIGN_OR_RETURN(size_t got, Read(file.get(), path, header, 4));
  if (got < 4) {
    return DataLossError(Quoted(path) + ": truncated: " + std::to_string(got) +
                         " of 4 header bytes");
  }
  if (header[0] != 0 || header[1] != 0) {
    return InvalidArgumentError(Quoted(path) + ": not an IDX file (magic " +
                                Hex(header[0] << 8 | header[1], 4) + ", expected 0x0000)");
  }
  IdxArray array;
  array.type = static_cast<IdxType>(header[2]);
  const size_t element_size = IdxTypeSize(array.type);
  if (element_size == 0) {
    return InvalidArgumentError(Quoted(path) + ": unknown IDX element type " + Hex(header[2], 2));
  }
  const int rank = header[3];
  if (rank == 0) {
    return InvalidArgumentError(Quoted(path) +
                                ": rank 0 (an IDX array has at least one dimension)");
  }

  uint8_t dims[4 * 255];
  KILN_RT_ASSIGN_OR_RETURN(got, Read(file.get(), path, dims, 4 * rank));
  if (got < 4 * rank) {
    return DataLossError(Quoted(path) + ": truncated: header declares " + std::to_string(rank) +
                         " dimensions, found " + std::to_string(got) + " of their " +
                         std::to_string(4 * rank) + " bytes");
  }
  for (const uint8_t* d = dims; d < dims + 4 * rank; d += 4) {
    array.dims.push_back(uint32_t{d[0]} << 24 | uint32_t{d[1]} << 16 | uint32_t{d[2]} << 8 | d[3]);
  }
  uint64_t declared = element_size;
  bool overflow = false;
  for (int64_t extent : array.dims) {
    if (extent == 0) {  // an empty array, however large the other extents
      declared = 0;
      overflow = false;
      break;
    }
    overflow |= declared > UINT64_MAX / extent;
    declared *= extent;
  }
  if (overflow) {
    return DataLossError(Quoted(path) + ": truncated: header declares " + IdxTypeName(array.type) +
                         " " + DimsString(array.dims) + ", over 2^64 bytes of data");
  }

  // The buffer grows with the data that actually arrives, not to what the header declares up front,
  // so a corrupt header costs at most twice the file's real size rather than an absurd allocation.
  got = 0;
  while (got < declared) {
    array.bytes.resize(std::min<uint64_t>(declared, std::max<uint64_t>(2 * got, 1 << 20)));
    KILN_RT_ASSIGN_OR_RETURN(
        size_t n, Read(file.get(), path, array.bytes.data() + got, array.bytes.size() - got));
    got += n;
    if (got < array.bytes.size()) break;
  }
  if (got < declared) {
    return DataLossError(Quoted(path) + ": truncated: header declares " + std::to_string(declared) +
                         " bytes of data, found " + std::to_string(got));
  }
  uint8_t extra[4096];
  size_t trailing = 0;
  for (;;) {
    KILN_RT_ASSIGN_OR_RETURN(size_t n, Read(file.get(), path, extra, sizeof(extra)));
    trailing += n;
    if (n < sizeof(extra)) break;
  }
  if (trailing > 0) {
    return DataLossError(Quoted(path) + ": " + std::to_string(trailing) + " bytes after the " +
                         std::to_string(declared) + " bytes of data the header declares");
  }
  // zlib reports a gzip stream cut short as the end of the data, leaving Z_BUF_ERROR behind.
  int code = Z_OK;
  gzerror(file.get(), &code);
  if (code == Z_BUF_ERROR)
    return DataLossError(Quoted(path) + ": truncated: the gzip stream ends early");

  switch (element_size) {
    case 2: BigEndianToHost<uint16_t>(array.bytes); break;
    case 4: BigEndianToHost<uint32_t>(array.bytes); break;
    case 8: BigEndianToHost<uint64_t>(array.bytes); break;
  }
  return array;
}

StatusOr<FashionMnist> LoadFashionMnist(const std::string& dir, const std::string& split) {
  if (split != "train" && split != "test") {
    return InvalidArgumentError("Fashion-MNIST has no split '" + split +
                                "' (expected \"train\" or \"test\")");
  }
  const std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
  const std::string images_path = prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = prefix + "-labels-idx1-ubyte.gz";
  FashionMnist data;
  KILN_RT_ASSIGN_OR_RETURN(data.images, ReadIdx(images_path));
  KILN_RT_ASSIGN_OR_RETURN(data.labels, ReadIdx(labels_path));
  const IdxArray& images = data.images;
  const IdxArray& labels = data.labels;
  if (images.type != IdxType::kU8 || images.dims.size() != 3 || images.dims[1] != 28 ||
      images.dims[2] != 28) {
    return InvalidArgumentError(Quoted(images_path) + ": expected u8 [n, 28, 28] images, found " +
                                IdxTypeName(images.type) + " " + DimsString(images.dims));
  }
  if (labels.type != IdxType::kU8 || labels.dims.size() != 1) {
    return InvalidArgumentError(Quoted(labels_path) + ": expected u8 [n] labels, found " +
                                IdxTypeName(labels.type) + " " + DimsString(labels.dims));
  }
  if (labels.dims[0] != images.dims[0]) {
    return DataLossError(Quoted(labels_path) + " holds " + std::to_string(labels.dims[0]) +
                         " labels but " + Quoted(images_path) + " " +
                         std::to_string(images.dims[0]) + " images");
  }
  for (size_t i = 0; i < labels.bytes.size(); ++i) {
    if (labels.bytes[i] >= 10) {
      return DataLossError(Quoted(labels_path) + ": label " + std::to_string(labels.bytes[i]) +
                           " at index " + std::to_string(i) + " is not a class (0 to 9)");
    }
  }
  return data;
}

}  // namespace rt
}  // namespace kiln
