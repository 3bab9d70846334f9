/* A compiled model described as data: what every object kilnc writes carries about itself (ABI
 * version, the graph's fingerprint, the target, entry points, each argument's name, role, dtype,
 * shape and bytes, the arena's size, the runtime hooks its code calls), so that apps, loaders and
 * tools need no header to use it. The generated C and C++ headers are rendered from it.
 *
 * The description is a little-endian byte string, versioned as a schema (KILN_MODEL_ABI_VERSION):
 *   - at run time, from the object's query function:
 *       const void* kiln_<name>_model_description(uint64_t* size);
 *   - without running anything, from the object's ".kiln.model" section (ELF; a data segment of
 *     that name in wasm objects), e.g. `kilnc inspect model.o`.
 * kiln_model_info_parse checks one completely and gives a struct view of it.
 *
 * Layout, version 1. Offsets (u32) count from the description's first byte; strings are
 * NUL-terminated UTF-8 bytes.
 *   [0, 8)    magic "KILNMODL"
 *   [8, 12)   u32 ABI version (1)
 *   [12, 16)  u32 size of the whole description
 *   [16, 20)  name              [20, 24) fingerprint        [24, 28) target (its spec)
 *   [28, 32)  u32 flags: bit 0, a training step (Run updates the variables)
 *   [32, 40)  u64 arena bytes
 *   [40, 44)  init entry        [44, 48) run entry          [48, 52) prepare entry
 *   [52, 56)  u32 argument count, [56, 60) offset of the argument records
 *   [60, 64)  u32 hook count, [64, 68) offset of the hooks' name offsets (u32 each)
 *   argument record, 32 bytes: name, identifier (the C name in the headers), u32 role, u32 dtype
 *     (kiln_dtype), u32 rank, offset of rank i64 dims, u64 bytes (elements × dtype size)
 * Arguments come in call order: inputs, variables, outputs (kiln_<name>_run's parameters before
 * its context and arena; kiln_<name>_init takes the variables, then the arena). */
#ifndef KILN_RUNTIME_KILN_MODEL_H_
#define KILN_RUNTIME_KILN_MODEL_H_

#include <stddef.h>
#include <stdint.h>

#include "runtime/kiln_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_MODEL_ABI_VERSION 1
#define KILN_MODEL_MAX_RANK 8

typedef enum kiln_arg_role {
  KILN_ROLE_INPUT = 0,
  KILN_ROLE_VARIABLE = 1,
  KILN_ROLE_OUTPUT = 2,
} kiln_arg_role;

/* "input", "variable", "output" ("?" for an unknown value). */
const char* kiln_arg_role_name(kiln_arg_role role);

typedef struct kiln_model_arg {
  const char* name;       /* in the graph: "dense/kernel" */
  const char* identifier; /* in the generated headers: "dense_kernel" */
  kiln_arg_role role;
  kiln_dtype dtype;
  int32_t rank;
  int64_t dims[KILN_MODEL_MAX_RANK];
  uint64_t elements;
  uint64_t bytes;
} kiln_model_arg;

typedef struct kiln_model_info {
  uint32_t abi_version;
  const char* name;
  const char* fingerprint; /* the graph's identity; checkpoints carry it */
  const char* target;      /* the target spec it was compiled for (target/target.h) */
  int training;            /* Run also updates the variables */
  uint64_t arena_bytes;    /* scratch memory one run needs, 64-byte aligned */
  const char* init_entry;
  const char* run_entry;
  const char* prepare_entry;
  int32_t num_args;
  kiln_model_arg* args;
  int32_t num_hooks;
  const char** hooks; /* the runtime hooks (kiln_rt_*) the code calls */
  void* storage_;     /* owned by the view; kiln_model_info_release frees it */
} kiln_model_info;

/* Checks the `size` bytes at `data` as a model description and fills `*info` (strings point into
 * `data`, which must outlive it). KILN_OK; KILN_DATA_LOSS for a malformed or truncated description
 * (bad magic, an offset or string outside it, an unknown role or dtype, sizes that disagree);
 * KILN_FAILED_PRECONDITION for a newer ABI version than this runtime reads. Any error also writes a
 * message to `message` (may be NULL), cut at `message_size` bytes, and leaves `*info` empty. */
kiln_status_code kiln_model_info_parse(const void* data, size_t size, kiln_model_info* info,
                                       char* message, size_t message_size);

/* Frees what kiln_model_info_parse allocated and empties `*info`; safe on an empty one. */
void kiln_model_info_release(kiln_model_info* info);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_RUNTIME_KILN_MODEL_H_ */
