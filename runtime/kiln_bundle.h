/* A trained model in one file, `model.kiln`, loaded and run by the runtime alone: no compiler, no
 * MLIR, LLVM, protobuf or Abseil, no dlopen. `kilnc compile GRAPH --emit bundle [--weights
 * CHECKPOINT]` writes one (docs/bundle.md).
 *
 * File format, version 1. Integers are little-endian; a CRC is a CRC-32C (runtime/crc32c.h).
 *   header, 64 bytes at offset 0:
 *     [0, 8)    magic "KILNBNDL"
 *     [8, 12)   u32 format version (1)
 *     [12, 16)  u32 model ABI version (KILN_MODEL_ABI_VERSION) of the signatures' code
 *     [16, 24)  u64 file size
 *     [24, 32)  u64 offset of the section table
 *     [32, 36)  u32 section count
 *     [36, 40)  u32 CRC of the section table
 *     [40, 60)  zero
 *     [60, 64)  u32 CRC of bytes [0, 60)
 *   section table: per section 32 bytes: u32 kind, u32 signature (the signature a CODE section
 *     belongs to; else 0), u64 offset, u64 size, u32 CRC of the section's bytes, u32 zero
 *   sections (kinds):
 *     1 SIGNATURE: u32 name size, the name ("serving_default"), zero bytes to a multiple of 8,
 *       then the model description (runtime/kiln_model.h: target, arguments, arena, entries)
 *     2 CODE: the signature's relocatable object for its target (an ELF object for x86_64)
 *     3 WEIGHTS: the variables' values, each at a multiple of 64 bytes; the section itself at a
 *       multiple of 4096, so that in the mapped file every tensor is 64-byte aligned
 *     4 WEIGHTS_INDEX: u32 count, then per tensor: u32 name size, the name, u32 dtype, u32 rank,
 *       rank i64 dims, u64 offset in WEIGHTS, u64 bytes
 * The file is mapped read-only; the weights are used in place (never copied), so every signature
 * shares them and runs from many threads at once, each with its own context and scratch arena.
 *
 * A bundle is code, like a shared library: the checks guard against corrupt and truncated files,
 * not against a malicious one. Open only bundles you trust. */
#ifndef KILN_RUNTIME_KILN_BUNDLE_H_
#define KILN_RUNTIME_KILN_BUNDLE_H_

#include <stddef.h>
#include <stdint.h>

#include "runtime/kiln_model.h"
#include "runtime/kiln_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_BUNDLE_FORMAT_VERSION 1
#define KILN_BUNDLE_HEADER_BYTES 64
#define KILN_BUNDLE_SECTION_BYTES 32

typedef enum kiln_bundle_section_kind {
  KILN_SECTION_SIGNATURE = 1,
  KILN_SECTION_CODE = 2,
  KILN_SECTION_WEIGHTS = 3,
  KILN_SECTION_WEIGHTS_INDEX = 4,
} kiln_bundle_section_kind;

typedef struct kiln_bundle kiln_bundle;

typedef struct kiln_bundle_options {
  /* Where the code's external functions come from, first: e.g. the oneDNN kernels'
   * kiln_dnnl_symbols(), so that a statically linked app need not export them. Then the runtime's
   * own hooks, then the process's symbols (dlsym: the C library, libm, shared kernel libraries). */
  const kiln_symbol* symbols;
  size_t num_symbols;
  /* 0: check everything but load no code (kilnc inspect); runs are then refused. */
  int load_code;
} kiln_bundle_options;

/* The defaults: no extra symbols, load the code. */
kiln_bundle_options kiln_bundle_default_options(void);

/* Maps and checks the bundle at `path` and loads the code of every signature compiled for this
 * machine (`options` may be NULL for the defaults). Every byte is checked first (header, section
 * table and each section's CRC, offsets and sizes, descriptions, the objects, that the weights
 * match the signatures), so a bad file is an error, never a crash: KILN_NOT_FOUND for a missing
 * file; KILN_DATA_LOSS for a truncated or corrupt one (bad magic, a checksum mismatch, an offset
 * out of range); KILN_FAILED_PRECONDITION for a newer format or ABI version, or no signature for
 * this machine; KILN_NOT_FOUND naming a function the code needs that this process lacks. The
 * message (written to `message`, cut at `message_size`) names the file and the reason. */
kiln_status_code kiln_bundle_open(const char* path, const kiln_bundle_options* options,
                                  kiln_bundle** bundle, char* message, size_t message_size);
/* The same for a bundle already in memory (e.g. linked into firmware, or read by the caller):
 * `data` (`size` bytes, 64-byte aligned) must outlive the bundle and is not copied; messages name
 * it "<memory>". */
kiln_status_code kiln_bundle_open_memory(const void* data, size_t size,
                                         const kiln_bundle_options* options, kiln_bundle** bundle,
                                         char* message, size_t message_size);
void kiln_bundle_close(kiln_bundle* bundle);

/* The signatures this machine runs, in file order; the description views live as long as the
 * bundle. -1 from kiln_bundle_find for an unknown name. */
int32_t kiln_bundle_num_signatures(const kiln_bundle* bundle);
const char* kiln_bundle_signature_name(const kiln_bundle* bundle, int32_t signature);
const kiln_model_info* kiln_bundle_signature(const kiln_bundle* bundle, int32_t signature);
int32_t kiln_bundle_find(const kiln_bundle* bundle, const char* name);

/* The leading (batch) dimension of a signature's first input (1 for a scalar input or none). */
int64_t kiln_bundle_batch_size(const kiln_bundle* bundle, int32_t signature);
/* Among the signatures named `name` (one model compiled at several batch sizes: kilnc
 * --batch-sizes), the one with the smallest batch size of at least `batch`, or -1 if none is that
 * large: a batch of requests runs there, padded. */
int32_t kiln_bundle_find_batch(const kiln_bundle* bundle, const char* name, int64_t batch);

/* Makes the signature's library kernels (oneDNN primitives) in `context`; call it once per context
 * before its first run there (runs without it are correct but make them on the way). */
void kiln_bundle_prepare(const kiln_bundle* bundle, int32_t signature, kiln_context* context);

/* Writes a copy of the bundle with its weights replaced by `tensors` (`n` of them: every weight,
 * matched by name, of the same dtype and shape; or none, n = 0: the weights as they are now, after
 * any training steps run on this bundle) to `path`, atomically (a temporary file beside it,
 * synced and renamed): e.g. a trainer's bundle of the trained model, from a bundle of the
 * untrained one. KILN_INVALID_ARGUMENT naming a tensor that is not a weight of that type and
 * shape; KILN_UNAVAILABLE for I/O (the message names the file). */
kiln_status_code kiln_bundle_write_weights(const kiln_bundle* bundle, const kiln_tensor* tensors,
                                           size_t n, const char* path, char* message,
                                           size_t message_size);

/* One run of an inference signature with the caller's buffers: `inputs` and `outputs` hold one
 * dense row-major array per input and output argument, in description order; the weights come
 * from the bundle. Safe from many threads at once, each with its own context. Returns the run's
 * status (also left in the context): KILN_OUT_OF_RANGE naming the op for an index out of range;
 * KILN_FAILED_PRECONDITION for a training signature of a bundle opened from memory (its weights
 * are read-only there). A training signature (e.g. "train_step") updates the bundle's weights in
 * place, which every signature then uses; the file is not changed (the mapping is copy-on-write;
 * kiln_bundle_write_weights with n = 0 saves them). Run no other signature of the bundle while a
 * training step runs.
 * KILN_RESOURCE_EXHAUSTED if the scratch arena cannot be allocated. */
kiln_status_code kiln_bundle_run(const kiln_bundle* bundle, int32_t signature,
                                 const void* const* inputs, void* const* outputs,
                                 kiln_context* context);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_RUNTIME_KILN_BUNDLE_H_ */
