/* Positions in the int64 parameter arrays of the library hooks (runtime/hooks.def): written by the
 * compiler (graph/ops/conv.cc ConvParams, passes/node_lowering.cc) and read by the runtime's
 * libraries (runtime/dnnl_kernels.cc, cuda_blas.cc, cuda_dnn.cc), so both sides name each one.
 * After the kernel's own parameters come the variants': relu for a "_bias" hook, then the
 * precision for a CUDA hook (target/target.h GpuPrecision). C, dependency-free. */
#ifndef KILN_RUNTIME_HOOK_PARAMS_H_
#define KILN_RUNTIME_HOOK_PARAMS_H_

/* Matmul: c[m, n] = a[m, k] · b[k, n], each operand possibly transposed. Batch matmul puts the
 * batch count first and shifts the others by one. */
enum kiln_matmul_param {
  KILN_MATMUL_M,
  KILN_MATMUL_N,
  KILN_MATMUL_K,
  KILN_MATMUL_TRANSPOSE_A,
  KILN_MATMUL_TRANSPOSE_B,
  KILN_MATMUL_PARAMS /* the count */
};

/* Convolution (forward and both gradients): input NHWC, filter HWIO, output NHWC; dilations as
 * Kiln counts them (1 is dense). */
enum kiln_conv_param {
  KILN_CONV_N,
  KILN_CONV_H,
  KILN_CONV_W,
  KILN_CONV_C,
  KILN_CONV_KH,
  KILN_CONV_KW,
  KILN_CONV_O,
  KILN_CONV_OH,
  KILN_CONV_OW,
  KILN_CONV_STRIDE_H,
  KILN_CONV_STRIDE_W,
  KILN_CONV_DILATION_H,
  KILN_CONV_DILATION_W,
  KILN_CONV_PAD_TOP,
  KILN_CONV_PAD_LEFT,
  KILN_CONV_PAD_BOTTOM,
  KILN_CONV_PAD_RIGHT,
  KILN_CONV_PARAMS /* the count */
};

#endif /* KILN_RUNTIME_HOOK_PARAMS_H_ */
