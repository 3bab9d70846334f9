// Checkpoints: the values of a compiled graph's variables (weights, optimizer slots, the i64
// "global_step" counter) in one file, for trainers that resume and apps that ship trained weights.
// A save is atomic (after a crash the file is the old checkpoint or the new one, never a mix) and a
// load checks the whole file against the model before it writes a byte into the model's tensors.
//
// File format, version 1. Integers are little-endian. A CRC is a CRC-32C (runtime/crc32c.h) in
// TFRecord's masked form, since the index that holds the data's CRCs is itself checksummed.
//
//   header: 40 bytes at offset 0
//     [0, 8)    magic "KILNCKPT"
//     [8, 12)   u32 format version: 1
//     [12, 20)  i64 step
//     [20, 28)  u64 index offset: 40 + the size of all tensor data
//     [28, 36)  u64 file size: index offset + index size
//     [36, 40)  u32 CRC of bytes [0, 36)
//   data: from offset 40, each tensor's elements (row-major, in the host's byte order, which Kiln's
//     targets all have little-endian) in index order, back to back
//   index: from the index offset to the end of the file
//     u32 fingerprint size, the fingerprint bytes (the graph's identity; empty if unknown)
//     u32 tensor count, then per tensor:
//       u32 name size, the name bytes
//       u32 dtype (kiln_dtype's numbering)
//       u32 rank, then rank i64 dims
//       u64 data size in bytes (elements × dtype size)
//       u32 CRC of the tensor's data
//     u32 CRC of the index bytes before it
//
// Every byte is under a CRC: the header's own, the index's own, or its tensor's data CRC, which
// sits in the index so that blocks cannot be swapped unnoticed. The header's fixed-size fields give
// the file size, so a truncated file is rejected before anything else is read. The index comes last
// so that a save streams the data once, checksumming as it writes.
#ifndef KILN_RUNTIME_CHECKPOINT_CHECKPOINT_H_
#define KILN_RUNTIME_CHECKPOINT_CHECKPOINT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/kiln_runtime.h"
#include "runtime/status.h"

namespace kiln {
namespace rt {

// Writes `n` tensors (unique non-empty names, known dtypes, non-negative dims) to `path`
// atomically: into a temporary file beside it (`<path>.tmp.<pid>.<counter>`), synced, renamed over
// `path`, and the directory synced. `fingerprint` identifies the graph ("" for none). Errors:
// InvalidArgument for bad tensors (nothing is written), Unavailable naming `path` and the failing
// file for I/O (the temporary file is removed).
Status SaveCheckpoint(const std::string& path, const kiln_tensor* tensors, size_t n, int64_t step,
                      const std::string& fingerprint);

// Fills `tensors` (matched by name; any order) from the checkpoint at `path` and sets `*step` (when
// not null). Checks the whole file first and writes nothing into `tensors` unless everything
// passes, so a failed load leaves the model as it was; the data is staged in memory meanwhile (the
// size of the checkpoint). Errors: NotFound for a missing file; DataLoss for a corrupt, truncated
// or malformed file; FailedPrecondition for a checkpoint of another graph (both fingerprints
// non-empty and different), a newer format version, or variables that differ from `tensors` (each
// missing, extra, or differently typed or shaped variable is named); InvalidArgument for bad
// `tensors`.
Status LoadCheckpoint(const std::string& path, kiln_tensor* tensors, size_t n,
                      const std::string& expected_fingerprint, int64_t* step);

struct CheckpointTensorInfo {
  std::string name;
  kiln_dtype dtype;
  std::vector<int64_t> shape;
};

struct CheckpointInfo {
  int64_t step;
  std::string fingerprint;
  std::vector<CheckpointTensorInfo> tensors;  // in file order
};

// What the checkpoint at `path` holds, once the whole file (data included) has passed its checks;
// errors as for LoadCheckpoint. Reads the file in constant memory.
StatusOr<CheckpointInfo> ReadCheckpointInfo(const std::string& path);

}  // namespace rt
}  // namespace kiln

#endif  // KILN_RUNTIME_CHECKPOINT_CHECKPOINT_H_
