// RUN: kiln-opt %s --split-input-file --kiln-fuse-elementwise --kiln-simplify --kiln-cse | FileCheck %s

// The tensor passes leave effects alone: an effectful op (OpDef::Effects) is lowered as a call of an
// external function (ExternalCall: a typed site marked kiln.effect), and a call is never merged with
// an identical one, removed when its results are unused, or moved across another call.

#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>

// Two identical effects: the same function on the same input, each into its own result buffer, and
// an identical pair of calls that return a value. Nothing is merged.
// CHECK-LABEL: func.func @identical
// CHECK: %[[A0:.*]] = memref.alloc
// CHECK: call @test_effect__site0(%{{.*}}, %{{.*}}, %[[A0]])
// CHECK: %[[A1:.*]] = memref.alloc
// CHECK: call @test_effect__site1(%{{.*}}, %{{.*}}, %[[A1]])
// CHECK: %[[N0:.*]] = call @test_count
// CHECK: %[[N1:.*]] = call @test_count
// CHECK: return %{{.*}}, %{{.*}}, %[[N0]], %[[N1]]
func.func private @test_effect__site0(!llvm.ptr, memref<4xf32>, memref<4xf32>) attributes {kiln.effect, kiln.library_hook = "test_effect"}
func.func private @test_effect__site1(!llvm.ptr, memref<4xf32>, memref<4xf32>) attributes {kiln.effect, kiln.library_hook = "test_effect"}
func.func private @test_count(!llvm.ptr, memref<4xf32>) -> i64
func.func @identical(%x: tensor<4xf32>, %ctx: !llvm.ptr) -> (tensor<4xf32>, tensor<4xf32>, i64, i64) {
  %a0 = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
  %b0 = bufferization.to_buffer %x read_only : tensor<4xf32> to memref<4xf32>
  call @test_effect__site0(%ctx, %b0, %a0) : (!llvm.ptr, memref<4xf32>, memref<4xf32>) -> ()
  %y0 = bufferization.to_tensor %a0 restrict writable : memref<4xf32> to tensor<4xf32>
  %a1 = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
  %b1 = bufferization.to_buffer %x read_only : tensor<4xf32> to memref<4xf32>
  call @test_effect__site1(%ctx, %b1, %a1) : (!llvm.ptr, memref<4xf32>, memref<4xf32>) -> ()
  %y1 = bufferization.to_tensor %a1 restrict writable : memref<4xf32> to tensor<4xf32>
  %n0 = call @test_count(%ctx, %b0) : (!llvm.ptr, memref<4xf32>) -> i64
  %n1 = call @test_count(%ctx, %b0) : (!llvm.ptr, memref<4xf32>) -> i64
  return %y0, %y1, %n0, %n1 : tensor<4xf32>, tensor<4xf32>, i64, i64
}

// -----

#id = affine_map<(d0) -> (d0)>

// Effects whose results nothing uses still happen (the pure ops around them go).
// CHECK-LABEL: func.func @unused
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>, %[[CTX:.*]]: !llvm.ptr)
// CHECK: call @test_effect__site0(%[[CTX]],
// CHECK: call @test_count(%[[CTX]],
// CHECK-NOT: linalg.generic
// CHECK: return %[[X]]
func.func private @test_effect__site0(!llvm.ptr, memref<4xf32>, memref<4xf32>) attributes {kiln.effect, kiln.library_hook = "test_effect"}
func.func private @test_count(!llvm.ptr, memref<4xf32>) -> i64
func.func @unused(%x: tensor<4xf32>, %ctx: !llvm.ptr) -> tensor<4xf32> {
  %a0 = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
  %b0 = bufferization.to_buffer %x read_only : tensor<4xf32> to memref<4xf32>
  call @test_effect__site0(%ctx, %b0, %a0) : (!llvm.ptr, memref<4xf32>, memref<4xf32>) -> ()
  %y0 = bufferization.to_tensor %a0 restrict writable : memref<4xf32> to tensor<4xf32>
  %n = call @test_count(%ctx, %b0) : (!llvm.ptr, memref<4xf32>) -> i64
  %e = tensor.empty() : tensor<4xf32>
  %dead = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%y0 : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  return %x : tensor<4xf32>
}

// -----

#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>

// Three effects, in order, with elementwise chains between and around them that fusion rebuilds:
// the calls keep their order.
// CHECK-LABEL: func.func @order
// CHECK: call @test_effect__site0(
// CHECK: call @test_effect_b__site0(
// CHECK: call @test_effect__site1(
// CHECK: return
func.func private @test_effect__site0(!llvm.ptr, memref<4xf32>, memref<4xf32>) attributes {kiln.effect, kiln.library_hook = "test_effect"}
func.func private @test_effect_b__site0(!llvm.ptr, memref<4xf32>, memref<4xf32>) attributes {kiln.effect, kiln.library_hook = "test_effect_b"}
func.func private @test_effect__site1(!llvm.ptr, memref<4xf32>, memref<4xf32>) attributes {kiln.effect, kiln.library_hook = "test_effect"}
func.func @order(%x: tensor<4xf32>, %ctx: !llvm.ptr) -> tensor<4xf32> {
  %two = arith.constant dense<2.0> : tensor<f32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %e0 = tensor.empty() : tensor<4xf32>
  %m = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel"]}
      ins(%x, %two : tensor<4xf32>, tensor<f32>) outs(%e0 : tensor<4xf32>) {
  ^bb0(%in: f32, %c: f32, %o: f32):
    %r = arith.mulf %in, %c : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %a0 = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
  %b0 = bufferization.to_buffer %x read_only : tensor<4xf32> to memref<4xf32>
  call @test_effect__site0(%ctx, %b0, %a0) : (!llvm.ptr, memref<4xf32>, memref<4xf32>) -> ()
  %a1 = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
  %b1 = bufferization.to_buffer %m read_only : tensor<4xf32> to memref<4xf32>
  call @test_effect_b__site0(%ctx, %b1, %a1) : (!llvm.ptr, memref<4xf32>, memref<4xf32>) -> ()
  %y1 = bufferization.to_tensor %a1 restrict writable : memref<4xf32> to tensor<4xf32>
  %e1 = tensor.empty() : tensor<4xf32>
  %k = linalg.generic {indexing_maps = [#id, #id, #scalar, #id], iterator_types = ["parallel"]}
      ins(%m, %y1, %one : tensor<4xf32>, tensor<4xf32>, tensor<f32>) outs(%e1 : tensor<4xf32>) {
  ^bb0(%in: f32, %y: f32, %c: f32, %o: f32):
    %s = arith.addf %in, %y : f32
    %r = arith.addf %s, %c : f32
    linalg.yield %r : f32
  } -> tensor<4xf32>
  %a2 = memref.alloc() {alignment = 64 : i64} : memref<4xf32>
  %b2 = bufferization.to_buffer %x read_only : tensor<4xf32> to memref<4xf32>
  call @test_effect__site1(%ctx, %b2, %a2) : (!llvm.ptr, memref<4xf32>, memref<4xf32>) -> ()
  return %k : tensor<4xf32>
}
