// IDX files, the format of MNIST and Fashion-MNIST: the bytes 0x00 0x00, a type byte, a rank byte,
// `rank` big-endian uint32 dimensions, then the elements row-major and big-endian. Read through
// zlib, so gzip-compressed files (as Debian ships them) and plain ones both work.
#ifndef KILN_RUNTIME_DATA_IDX_H_
#define KILN_RUNTIME_DATA_IDX_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "runtime/status.h"

namespace kiln {
namespace rt {

// Element types, numbered as the type byte in the file.
enum class IdxType : uint8_t {
  kU8 = 0x08,
  kI8 = 0x09,
  kI16 = 0x0B,
  kI32 = 0x0C,
  kF32 = 0x0D,
  kF64 = 0x0E
};

// Bytes per element (0 for a value outside the enum); "u8", "f32", ... ("?" outside the enum).
size_t IdxTypeSize(IdxType type);
const char* IdxTypeName(IdxType type);

// A dense array read from an IDX file.
struct IdxArray {
  IdxType type = IdxType::kU8;
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;  // the elements, row-major, in the host's byte order

  int64_t num_elements() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
  // The elements as T (uint8_t, int8_t, int16_t, int32_t, float or double matching `type`), or
  // nullptr when T does not match.
  template <typename T>
  const T* data() const;
};

// Reads a whole IDX file, gzip-compressed or not. Errors name the file: NotFound when it does not
// exist, InvalidArgument when it is not an IDX file (magic, type, rank 0), DataLoss when it is
// truncated, has bytes after the declared data, or its gzip stream is corrupt.
StatusOr<IdxArray> ReadIdx(const std::string& path);

// Fashion-MNIST (Debian's dataset-fashion-mnist installs it here).
inline constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

struct FashionMnist {
  IdxArray images;  // u8 [n, 28, 28], pixels 0 (background) to 255
  IdxArray labels;  // u8 [n], classes 0 to 9
};

// Reads `split` ("train": 60000 examples, or "test": 10000) from `dir`'s
// {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz, checking the shapes, that the two files hold the
// same number of examples and that every label is a class.
StatusOr<FashionMnist> LoadFashionMnist(const std::string& dir, const std::string& split);

template <typename T>
const T* IdxArray::data() const {
  constexpr IdxType kType = std::is_same_v<T, uint8_t>   ? IdxType::kU8
                            : std::is_same_v<T, int8_t>  ? IdxType::kI8
                            : std::is_same_v<T, int16_t> ? IdxType::kI16
                            : std::is_same_v<T, int32_t> ? IdxType::kI32
                            : std::is_same_v<T, float>   ? IdxType::kF32
                            : std::is_same_v<T, double>  ? IdxType::kF64
                                                         : IdxType{0};
  static_assert(kType != IdxType{0}, "IDX has no element type for T");
  return kType == type ? reinterpret_cast<const T*>(bytes.data()) : nullptr;
}

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_DATA_IDX_H_
