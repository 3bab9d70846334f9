/* Running compiled CUDA kernels (issue 7; the kernels come from codegen/cuda/gpu_pipeline.h). The
 * CUDA driver, libcuda.so.1, is opened at run time: an app builds and links on a machine without
 * CUDA, and where there is no driver or no GPU its context carries a clear KILN_UNAVAILABLE status.
 *
 * A CUDA context is a kiln_context whose library state (one library per context) holds the driver's
 * entry points, the device's primary context, one stream, and the modules loaded so far. Every
 * driver error becomes the context's status (KILN_INTERNAL, naming the call, the kernel where there
 * is one, and the driver's error name and text); after such an error, calls do nothing until the
 * status is cleared (an index out of range, OUT_OF_RANGE, lets the run finish as on the CPU).
 *
 * Nothing here has run on a GPU yet: tests use a fake driver
 * (runtime/testdata/), and test/gpu/ holds what a GPU machine runs. */
#ifndef KILN_RUNTIME_CUDA_H_
#define KILN_RUNTIME_CUDA_H_

#include <stddef.h>
#include <stdint.h>

#include "runtime/kiln_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A context on GPU `device` (0: the first), through the driver at `driver_path`
 * (kiln_cuda_context_create: $KILN_CUDA_DRIVER if set, else "libcuda.so.1", the system's). NULL
 * only when out of memory; check kiln_context_status for UNAVAILABLE (no driver, no such device) or
 * INTERNAL. */
kiln_context* kiln_cuda_context_create(int device);
kiln_context* kiln_cuda_context_create_with_driver(const char* driver_path, int device);

/* Device memory (0 on error, with the context's status set) and its release. */
uint64_t kiln_cuda_alloc(kiln_context* context, size_t bytes);
void kiln_cuda_free(kiln_context* context, uint64_t device_memory);

/* Copies on the context's stream; kiln_cuda_synchronize waits for everything queued. */
void kiln_cuda_copy_to_device(kiln_context* context, uint64_t device, const void* host,
                              size_t bytes);
void kiln_cuda_copy_to_host(kiln_context* context, void* host, uint64_t device, size_t bytes);
void kiln_cuda_synchronize(kiln_context* context);

/* CUDA graphs: a step's launches recorded once and replayed as one unit, which removes most of the
 * host's per-kernel cost. kiln_cuda_capture_begin starts recording the context's stream (work
 * queued on it is recorded, not run); kiln_cuda_capture_end stops and returns the recording,
 * instantiated (NULL on error, with the status set and the capture ended). Modules load at a step's
 * first uncaptured run: run the step once before capturing it. The buffers a step reads and writes
 * are part of the recording, so a replay uses the same ones.
 *
 * Index checks inside a capture cannot wait for the stream: each copies its finding into pinned
 * host memory as part of the graph, and kiln_cuda_synchronize reports the first bad index of the
 * last replay it waited for (reading the index itself then: an index computed into scratch memory
 * may have been overwritten by that time, an input's has not). */
typedef struct kiln_cuda_graph kiln_cuda_graph;
void kiln_cuda_capture_begin(kiln_context* context);
kiln_cuda_graph* kiln_cuda_capture_end(kiln_context* context);
void kiln_cuda_graph_launch(kiln_context* context, kiln_cuda_graph* graph);
void kiln_cuda_graph_destroy(kiln_context* context, kiln_cuda_graph* graph);

/* The hook compiled code calls: kernel `kernel` of `image` (PTX, NUL-terminated, or a cubin; loaded
 * once per context and image, then cached) on the context's stream. params: grid x, y, z, block x,
 * y, z, dynamic shared memory bytes. args: one pointer to each kernel argument's value, as
 * cuLaunchKernel takes them. */
void kiln_rt_cuda_launch(kiln_context* context, const char* image, const char* kernel,
                         const int64_t* params, void** args);

/* Matmuls through cuBLASLt (runtime/cuda_blas.cc), the CUDA target's counterparts of
 * runtime/dnnl_kernels.h's hooks, on device arrays (f32, dense row-major):
 *   kiln_rt_cuda_matmul        params m, n, k, transpose_a, transpose_b, precision; a, b → c [m, n]
 *   kiln_rt_cuda_matmul_bias   params m, n, k, transpose_a, transpose_b, relu, precision; a, b,
 *                              bias [n] → c = a·b + bias, then max(c, 0) if relu
 *   kiln_rt_cuda_batch_matmul  params batch, m, n, k, transpose_a, transpose_b, precision;
 *                              a [batch, m, k], b [batch, k, n] → c [batch, m, n]
 * precision: 0 exact f32 (CUBLAS_COMPUTE_32F), 1 TF32 inputs, 2 bf16 inputs (f32 accumulation).
 * cuBLASLt (libcublasLt.so.13 or .12; $KILN_CUBLASLT instead) is opened at the first prepare, with
 * a handle and a 32 MiB workspace per context; each call site's descriptors, layouts and algorithm
 * are made by its `_prepare` (or first call) and reused, so calls allocate nothing and can be
 * captured. Errors name the call and the product ("cublasLtMatmul for MatMul 128x512x784: ..."). */
void kiln_rt_cuda_matmul(kiln_context* context, const int64_t* params, const float* a,
                         const float* b, float* c);
void kiln_rt_cuda_matmul_bias(kiln_context* context, const int64_t* params, const float* a,
                              const float* b, const float* bias, float* c);
void kiln_rt_cuda_batch_matmul(kiln_context* context, const int64_t* params, const float* a,
                               const float* b, float* c);
void kiln_rt_cuda_matmul_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_cuda_matmul_bias_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_cuda_batch_matmul_prepare(kiln_context* context, const int64_t* params);

/* Convolutions through cuDNN (runtime/cuda_dnn.cc), on device arrays (f32): inputs and outputs
 * NHWC, filters OHWI (the compiler transposes Kiln's HWIO around the calls):
 *   kiln_rt_cuda_conv2d                  input, filter → output
 *   kiln_rt_cuda_conv2d_backprop_input   grad (output-shaped), filter → input-shaped gradient
 *   kiln_rt_cuda_conv2d_backprop_filter  input, grad → filter-shaped gradient (OHWI)
 * params: runtime/dnnl_kernels.h's convolution params (n, h, w, c, kh, kw, o, oh, ow, strides,
 * dilations, pad_top, pad_left, pad_bottom, pad_right; padding symmetric), then precision as above
 * (0: FMA math, exact f32; otherwise cuDNN's default math, TF32 on sm_80 and later). cuDNN
 * (libcudnn.so.9; $KILN_CUDNN instead) is opened at the first prepare, with a handle on the
 * context's stream; each call site's descriptors and algorithm (cuDNN's heuristic) are made by its
 * `_prepare`, and one workspace per context grows to the largest need there, so calls allocate
 * nothing. */
void kiln_rt_cuda_conv2d(kiln_context* context, const int64_t* params, const float* input,
                         const float* filter, float* output);
void kiln_rt_cuda_conv2d_backprop_input(kiln_context* context, const int64_t* params,
                                        const float* grad, const float* filter, float* grad_input);
void kiln_rt_cuda_conv2d_backprop_filter(kiln_context* context, const int64_t* params,
                                         const float* input, const float* grad, float* grad_filter);
void kiln_rt_cuda_conv2d_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_cuda_conv2d_backprop_input_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_cuda_conv2d_backprop_filter_prepare(kiln_context* context, const int64_t* params);

/* The hook of a run-time index check on the device: `position` (device memory, one int64) holds the
 * first flat position of an out-of-range index among `indices` (device memory), or n if none;
 * params: n, limit, bytes per index (4 or 8). When one is out of range, the context's status is
 * OUT_OF_RANGE with kiln_rt_index_error's message. Waits for the stream (the kernels before it). */
void kiln_rt_cuda_check_index(kiln_context* context, const int64_t* params, const char* where,
                              const char* what, const void* position, const void* indices);
void kiln_rt_cuda_check_index_prepare(kiln_context* context, const int64_t* params);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_RUNTIME_CUDA_H_ */
