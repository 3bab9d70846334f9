// Little-endian integers in byte strings, and a reader of length-checked fields: the encoding of
// TFRecord framing, checkpoints and example records.
#ifndef KILN_RUNTIME_LITTLE_ENDIAN_H_
#define KILN_RUNTIME_LITTLE_ENDIAN_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln {
namespace rt {

// The low `bytes` bytes of `v` at `out`, least significant first.
inline void PutLittleEndian(char* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

inline void AppendLittleEndian(std::string* out, uint64_t v, int bytes) {
  char buffer[8];
  PutLittleEndian(buffer, v, bytes);
  out->append(buffer, bytes);
}

inline uint64_t GetLittleEndian(const char* in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

// Reads fields front to back from [begin, end); each read is false when the bytes run out.
class LittleEndianReader {
 public:
  LittleEndianReader(const char* begin, const char* end) : p_(begin), end_(end) {}
  explicit LittleEndianReader(const std::string& s)
      : LittleEndianReader(s.data(), s.data() + s.size()) {}

  // An unsigned integer of `bytes` bytes.
  bool U(int bytes, uint64_t* v) {
    if (static_cast<size_t>(bytes) > left()) return false;
    *v = GetLittleEndian(p_, bytes);
    p_ += bytes;
    return true;
  }
  // A string: u32 size, then its bytes.
  bool Str(std::string* s) {
    uint64_t size;
    if (!U(4, &size) || size > left()) return false;
    s->assign(p_, size);
    p_ += size;
    return true;
  }
  size_t left() const { return end_ - p_; }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_LITTLE_ENDIAN_H_
