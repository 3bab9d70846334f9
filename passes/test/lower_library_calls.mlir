// RUN: kiln-opt %s --kiln-lower-library-calls | FileCheck %s

// A typed call site becomes a call of the C hook with one pointer per operand; the site's
// declaration disappears and the hook is declared once for both sites.
// CHECK: func.func private @kiln_rt_dnnl_matmul(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr)
// CHECK-NOT: __site
// CHECK-LABEL: func.func @two_matmuls
// CHECK-SAME: (%[[CTX:.*]]: !llvm.ptr, %[[P:.*]]: memref<5xi64>, %[[A:.*]]: memref<2x3xf32>, %[[B:.*]]: memref<3x4xf32>, %[[C:.*]]: memref<2x4xf32>, %[[D:.*]]: memref<2x4xf32>)
// CHECK: %[[PI:.*]] = memref.extract_aligned_pointer_as_index %[[P]]
// CHECK: %[[PP:.*]] = llvm.inttoptr
// CHECK: memref.extract_aligned_pointer_as_index %[[A]]
// CHECK: memref.extract_aligned_pointer_as_index %[[B]]
// CHECK: memref.extract_aligned_pointer_as_index %[[C]]
// CHECK: call @kiln_rt_dnnl_matmul(%[[CTX]], %[[PP]], %{{.*}}, %{{.*}}, %{{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
// CHECK: memref.extract_aligned_pointer_as_index %[[D]]
// CHECK: call @kiln_rt_dnnl_matmul(
// CHECK-NOT: __site
func.func private @kiln_rt_dnnl_matmul__site0(!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) attributes {kiln.library_hook = "kiln_rt_dnnl_matmul"}
func.func private @kiln_rt_dnnl_matmul__site1(!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) attributes {kiln.library_hook = "kiln_rt_dnnl_matmul"}
func.func @two_matmuls(%ctx: !llvm.ptr, %p: memref<5xi64>, %a: memref<2x3xf32>, %b: memref<3x4xf32>, %c: memref<2x4xf32>, %d: memref<2x4xf32>) {
  call @kiln_rt_dnnl_matmul__site0(%ctx, %p, %a, %b, %c) : (!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) -> ()
  call @kiln_rt_dnnl_matmul__site1(%ctx, %p, %a, %b, %d) : (!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) -> ()
  return
}
