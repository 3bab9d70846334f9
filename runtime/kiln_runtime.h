/* Kiln's runtime: the thin library an app links beside its compiled graphs. A C ABI (usable from C
 * and C++) with no dependency beyond libc, libm, libstdc++ and threads — no MLIR, LLVM, protobuf or
 * Abseil.
 *
 *   kiln_context   what one compiled call runs with: the thread pool for parallel loops (or the
 *                  caller's scheduler) and the call's status (the first run-time error it hit)
 *   kiln_rt_*      the hooks generated code calls; apps never call them
 *   kiln_tensor    a named, typed view of an array (the generated classes list their inputs,
 *                  variables and outputs as these; checkpoints read and write them)
 *
 * Memory: compiled functions never allocate. The caller passes every array and the scratch arena
 * (kiln_aligned_alloc gives 64-byte aligned memory, or pass your own).
 * Threads: a context may be shared by calls from several threads only if they do not overlap; use
 * one context per thread otherwise. */
#ifndef KILN_RUNTIME_KILN_RUNTIME_H_
#define KILN_RUNTIME_KILN_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* absl::StatusCode's numbers. */
typedef enum kiln_status_code {
  KILN_OK = 0,
  KILN_INVALID_ARGUMENT = 3,
  KILN_NOT_FOUND = 5,
  KILN_RESOURCE_EXHAUSTED = 8,
  KILN_FAILED_PRECONDITION = 9,
  KILN_OUT_OF_RANGE = 11,
  KILN_UNIMPLEMENTED = 12,
  KILN_INTERNAL = 13,
  KILN_UNAVAILABLE = 14,
  KILN_DATA_LOSS = 15,
} kiln_status_code;

/* "OK", "INVALID_ARGUMENT", ... */
const char* kiln_status_code_name(kiln_status_code code);

/* Element types, numbered as in Kiln graph files (proto/graph.proto DataType). */
typedef enum kiln_dtype {
  KILN_F32 = 1,
  KILN_F64 = 2,
  KILN_F16 = 3,
  KILN_BF16 = 4,
  KILN_I8 = 5,
  KILN_I32 = 6,
  KILN_I64 = 7,
  KILN_BOOL = 8,
} kiln_dtype;

/* Bytes per element (0 for an unknown value); "f32", "i64", ... ("?" for an unknown value). */
size_t kiln_dtype_size(kiln_dtype dtype);
const char* kiln_dtype_name(kiln_dtype dtype);

/* A dense row-major array with its name and static shape. Does not own anything. */
typedef struct kiln_tensor {
  const char* name;
  kiln_dtype dtype;
  int32_t rank;
  const int64_t* shape; /* rank extents */
  void* data;
} kiln_tensor;

/* Elements and bytes of a tensor. */
int64_t kiln_tensor_num_elements(const kiln_tensor* tensor);
size_t kiln_tensor_bytes(const kiln_tensor* tensor);

/* A function generated code may call, by name: a kernel library's table of its hooks (e.g.
 * kiln_dnnl_symbols()), for code loaded at run time (runtime/kiln_bundle.h). */
typedef struct kiln_symbol {
  const char* name;
  void* address;
} kiln_symbol;

typedef struct kiln_context kiln_context;

/* The body of a parallel loop: runs iterations [begin, end). */
typedef void (*kiln_parallel_body)(void* closure, int64_t begin, int64_t end);
/* A caller-supplied scheduler: must run body over all of [0, n) (in chunks, on any threads) and
 * return when every chunk is done. */
typedef void (*kiln_scheduler)(void* user_data, int64_t n, kiln_parallel_body body, void* closure);

/* A context whose parallel loops use `num_threads` threads, the calling thread included (1: no
 * extra threads; 0: one per hardware thread). NULL only when out of memory or threads. */
kiln_context* kiln_context_create(int num_threads);
/* A context whose parallel loops run on the caller's scheduler (e.g. the app's own thread pool);
 * `num_threads` is how many chunks to split a loop into. */
kiln_context* kiln_context_create_with_scheduler(kiln_scheduler scheduler, void* user_data,
                                                 int num_threads);
void kiln_context_destroy(kiln_context* context);
int kiln_context_num_threads(const kiln_context* context);

/* The first run-time error since the last clear (KILN_OK if none) and its message ("" if none). A
 * compiled call that hits an error finishes (the op's documented fallback values fill in) and
 * leaves it here. */
kiln_status_code kiln_context_status(const kiln_context* context);
const char* kiln_context_message(const kiln_context* context);
void kiln_context_clear_status(kiln_context* context);

/* Records an error in the context's status unless one is there already (the first error wins). */
void kiln_context_set_error(kiln_context* context, kiln_status_code code, const char* message);

/* The state a library keeps per context (oneDNN's primitives, the CUDA driver's context and its
 * cuBLASLt and cuDNN handles, later a collective library's communicator), one slot per `key`: the
 * address of an object of the library's own, which tells the libraries apart. Made by `create` on
 * first use (NULL from `create` leaves the slot empty) and released by `destroy` with the context,
 * the slots in the reverse order of their making. A context holds any number of libraries' states
 * at once. Thread-safe. */
void* kiln_context_library_state(kiln_context* context, const void* key, void* (*create)(void),
                                 void (*destroy)(void*));

/* 64-byte aligned memory of at least `bytes` bytes (NULL when out of memory), and its release. */
void* kiln_aligned_alloc(size_t bytes);
void kiln_aligned_free(void* memory);

/* ---- Hooks the generated code calls ---- */

/* An integer index outside [0, limit): `where` names the op ("Gather 'embed' (model.cc:12)"),
 * `what` the operand ("index", "label"), `position` is the flat position in that operand. With a
 * NULL context the error goes to stderr. */
void kiln_rt_index_error(kiln_context* context, const char* where, const char* what,
                         int64_t position, int64_t index, int64_t limit);
/* Runs body over [0, n) on the context's threads (serially when the context is NULL, has one
 * thread, or the call is already inside a parallel loop). */
void kiln_rt_parallel_for(kiln_context* context, int64_t n, kiln_parallel_body body, void* closure);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_RUNTIME_KILN_RUNTIME_H_ */
