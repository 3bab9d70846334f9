// CRC-32C (Castagnoli), the checksum of TFRecord framing and Kiln checkpoints.
#ifndef KILN_RUNTIME_CRC32C_H_
#define KILN_RUNTIME_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace kiln {
namespace rt {

// The CRC-32C of `size` bytes, continuing from `crc` (0 to start).
uint32_t Crc32c(const void* data, size_t size, uint32_t crc = 0);

// TFRecord's masked form: rotate right by 15 and add a constant, so a CRC of data that itself
// contains CRCs stays well distributed.
inline uint32_t MaskCrc32c(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t UnmaskCrc32c(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_CRC32C_H_
