/* The kernels Kiln's compiled code calls in oneDNN (x86-64): hooks of the C ABI, declared here for
 * the JIT and for tests. Each takes the call's context, a pointer to its static parameters (the
 * int64 array the compiler embeds), then its f32 operands and result, dense row-major:
 *
 *   kiln_rt_dnnl_matmul                  params m, n, k, transpose_a, transpose_b; a, b → c [m, n]
 *   kiln_rt_dnnl_batch_matmul            params batch, m, n, k, transpose_a, transpose_b;
 *                                        a [batch, m, k], b [batch, k, n] → c [batch, m, n]
 *   kiln_rt_dnnl_conv2d                  params below; input NHWC, filter HWIO → output NHWC
 *   kiln_rt_dnnl_conv2d_backprop_input   grad (output-shaped), filter → input-shaped gradient
 *   kiln_rt_dnnl_conv2d_backprop_filter  input, grad → filter-shaped gradient
 *   kiln_rt_dnnl_matmul_bias             params m, n, k, transpose_a, transpose_b, relu; a, b, bias
 * [n] → c = a·b + bias, then max(c, 0) if relu kiln_rt_dnnl_conv2d_bias             conv2d's
 * params, then relu; input, filter, bias [o] → output
 *
 * Convolution params (positions named in runtime/hook_params.h): n, h, w, c, kh, kw, o, oh, ow,
 * stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, pad_bottom, pad_right (dilations
 * as Kiln counts them: 1 is dense).
 *
 * Each hook has a `<hook>_prepare(context, params)` that makes its primitive ahead of the first
 * call (compiled code calls them from `kiln_<name>_prepare`, which the generated class's
 * constructor runs); a primitive is made once per context and parameter set (at its first call if
 * not prepared) and reused by every later call. One-row matmuls take Kiln's matrix-vector kernel.
 * oneDNN errors become the context's status (INTERNAL, naming the kernel). oneDNN runs on OpenMP's
 * threads (OMP_NUM_THREADS).
 *
 * With oneDNN in the process, make contexts with kiln_dnnl_context_create: its parallel loops run
 * on those same OpenMP threads. A kiln_context_create(n > 1) pool would compete for the cores with
 * OpenMP's threads, which spin a while after each oneDNN call (measured on 2 cores: 5x slower). */
#ifndef KILN_RUNTIME_DNNL_KERNELS_H_
#define KILN_RUNTIME_DNNL_KERNELS_H_

#include <stdint.h>

#include "runtime/kiln_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A context whose parallel loops run on OpenMP's threads, `num_threads` of them (0: OpenMP's
 * default, OMP_NUM_THREADS or one per core). NULL when out of memory. */
kiln_context* kiln_dnnl_context_create(int num_threads);

/* The oneDNN hooks by name (`*count` of them), for a bundle's code (runtime/kiln_bundle.h:
 * kiln_bundle_options). */
const kiln_symbol* kiln_dnnl_symbols(size_t* count);

void kiln_rt_dnnl_matmul(kiln_context* context, const int64_t* params, const float* a,
                         const float* b, float* c);
void kiln_rt_dnnl_batch_matmul(kiln_context* context, const int64_t* params, const float* a,
                               const float* b, float* c);
void kiln_rt_dnnl_conv2d(kiln_context* context, const int64_t* params, const float* input,
                         const float* filter, float* output);
void kiln_rt_dnnl_conv2d_backprop_input(kiln_context* context, const int64_t* params,
                                        const float* grad, const float* filter, float* input_grad);
void kiln_rt_dnnl_conv2d_backprop_filter(kiln_context* context, const int64_t* params,
                                         const float* input, const float* grad, float* filter_grad);

void kiln_rt_dnnl_matmul_bias(kiln_context* context, const int64_t* params, const float* a,
                              const float* b, const float* bias, float* c);
void kiln_rt_dnnl_conv2d_bias(kiln_context* context, const int64_t* params, const float* input,
                              const float* filter, const float* bias, float* output);

/* How many kernels (oneDNN primitives) `context` has made so far: tests check that runs make none.
 */
int64_t kiln_dnnl_kernels_made(kiln_context* context);

void kiln_rt_dnnl_matmul_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_dnnl_batch_matmul_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_dnnl_conv2d_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_dnnl_conv2d_backprop_input_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_dnnl_conv2d_backprop_filter_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_dnnl_matmul_bias_prepare(kiln_context* context, const int64_t* params);
void kiln_rt_dnnl_conv2d_bias_prepare(kiln_context* context, const int64_t* params);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_RUNTIME_DNNL_KERNELS_H_ */
