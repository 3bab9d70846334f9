// RUN: kiln-opt %s --kiln-lower-library-calls --split-input-file --verify-diagnostics | FileCheck %s

// A typed call site becomes a call of the C hook with one pointer per operand; the site's
// declaration disappears and the hook is declared once for both sites. The run function gets a
// prepare function (context only) that makes each site's kernel ahead of the first run.
// CHECK-DAG: func.func private @kiln_rt_dnnl_matmul(!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr)
// CHECK-DAG: func.func private @kiln_rt_dnnl_matmul_prepare(!llvm.ptr, !llvm.ptr)
// CHECK-NOT: __site
// CHECK-LABEL: func.func @kiln_mm_run
// CHECK-SAME: (%[[CTX:.*]]: !llvm.ptr, %[[A:.*]]: memref<2x3xf32>, %[[B:.*]]: memref<3x4xf32>, %[[C:.*]]: memref<2x4xf32>, %[[D:.*]]: memref<2x4xf32>)
// CHECK: %[[P:.*]] = memref.get_global @params0
// CHECK: %[[PI:.*]] = memref.extract_aligned_pointer_as_index %[[P]]
// CHECK: %[[PP:.*]] = llvm.inttoptr
// CHECK: memref.extract_aligned_pointer_as_index %[[A]]
// CHECK: memref.extract_aligned_pointer_as_index %[[B]]
// CHECK: memref.extract_aligned_pointer_as_index %[[C]]
// CHECK: call @kiln_rt_dnnl_matmul(%[[CTX]], %[[PP]], %{{.*}}, %{{.*}}, %{{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
// CHECK: memref.extract_aligned_pointer_as_index %[[D]]
// CHECK: call @kiln_rt_dnnl_matmul(
// CHECK-LABEL: func.func @kiln_mm_prepare
// CHECK-SAME: (%[[PCTX:.*]]: !llvm.ptr)
// CHECK: memref.get_global @params0
// CHECK: call @kiln_rt_dnnl_matmul_prepare(%[[PCTX]], %{{.*}}) : (!llvm.ptr, !llvm.ptr) -> ()
// CHECK: memref.get_global @params1
// CHECK: call @kiln_rt_dnnl_matmul_prepare(%[[PCTX]], %{{.*}})
// CHECK-NEXT: return
// CHECK-NOT: __site
memref.global "private" constant @params0 : memref<5xi64> = dense<[2, 4, 3, 0, 0]>
memref.global "private" constant @params1 : memref<5xi64> = dense<[2, 4, 3, 0, 1]>
func.func private @kiln_rt_dnnl_matmul__site0(!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) attributes {kiln.library_hook = "kiln_rt_dnnl_matmul"}
func.func private @kiln_rt_dnnl_matmul__site1(!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) attributes {kiln.library_hook = "kiln_rt_dnnl_matmul"}
func.func @kiln_mm_run(%ctx: !llvm.ptr, %a: memref<2x3xf32>, %b: memref<3x4xf32>, %c: memref<2x4xf32>, %d: memref<2x4xf32>) {
  %p = memref.get_global @params0 : memref<5xi64>
  call @kiln_rt_dnnl_matmul__site0(%ctx, %p, %a, %b, %c) : (!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) -> ()
  %q = memref.get_global @params1 : memref<5xi64>
  call @kiln_rt_dnnl_matmul__site1(%ctx, %q, %a, %b, %d) : (!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) -> ()
  return
}

// -----

// A function with a context but no library calls still gets an (empty) prepare function, so the
// generated header can always call it; functions without a context get none.
// CHECK-LABEL: func.func @graph(
// CHECK-LABEL: func.func @graph_prepare(%{{.*}}: !llvm.ptr)
// CHECK-NEXT: return
// CHECK-NOT: func.func @init_prepare
func.func @graph(%ctx: !llvm.ptr, %a: memref<2xf32>) {
  return
}
func.func @init(%a: memref<2xf32>) {
  return
}

// -----

// An effect's call site (kiln.effect: ExternalCall) becomes a call of its C function with one
// pointer per operand, as a library call does, but it has no parameters and nothing to prepare.
// CHECK-LABEL: func.func @kiln_fx_run
// CHECK-SAME: (%[[CTX:.*]]: !llvm.ptr, %[[X:.*]]: memref<4xf32>, %[[Y:.*]]: memref<4xf32>)
// CHECK: memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: memref.extract_aligned_pointer_as_index %[[Y]]
// CHECK: call @test_effect(%[[CTX]], %{{.*}}, %{{.*}}) : (!llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
// CHECK-LABEL: func.func @kiln_fx_prepare
// CHECK-NEXT: return
// CHECK-NOT: test_effect_prepare
// CHECK-NOT: __site
func.func private @test_effect__site0(!llvm.ptr, memref<4xf32>, memref<4xf32>) attributes {kiln.effect, kiln.library_hook = "test_effect"}
func.func @kiln_fx_run(%ctx: !llvm.ptr, %x: memref<4xf32>, %y: memref<4xf32>) {
  call @test_effect__site0(%ctx, %x, %y) : (!llvm.ptr, memref<4xf32>, memref<4xf32>) -> ()
  return
}

// -----

func.func private @kiln_rt_dnnl_matmul__site0(!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) attributes {kiln.library_hook = "kiln_rt_dnnl_matmul"}
func.func @params_not_constant(%ctx: !llvm.ptr, %p: memref<5xi64>, %a: memref<2x3xf32>, %b: memref<3x4xf32>, %c: memref<2x4xf32>) {
  // expected-error @+1 {{a library call's parameters must be a constant global}}
  call @kiln_rt_dnnl_matmul__site0(%ctx, %p, %a, %b, %c) : (!llvm.ptr, memref<5xi64>, memref<2x3xf32>, memref<3x4xf32>, memref<2x4xf32>) -> ()
  return
}
