// RUN: kiln-opt %s --kiln-tensors-to-loops | FileCheck %s

// A training update: the new weight is written straight into the variable, after every read of the
// old weight (kiln-update-in-place), so no temporary and no arena are needed; the loss is
// accumulated straight into its output, starting from the fill's zero (no store of it first).
// CHECK-LABEL: func.func @update
// CHECK-SAME: %[[LR:[a-z0-9]+]]: memref<f32>, %[[W:[a-z0-9]+]]: memref<8xf32>, %[[LOSS:[a-z0-9]+]]: memref<f32>, %[[ARENA:[a-z0-9]+]]: memref<0xi8>) attributes {kiln.arena_bytes = 0 : i64}
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NOT: memref.store
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]])
// CHECK: memref.load %[[W]]
// CHECK: memref.store %{{.*}}, %[[LOSS]][]
// CHECK: scf.parallel
// CHECK: memref.load %[[W]]
// CHECK: memref.store %{{.*}}, %[[W]]
// CHECK-NOT: memref.copy
// CHECK: return
#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>
// A training update: w <- w - lr * w * w, with the loss sum(w) also an output.
func.func @update(%lr: memref<f32>, %w: memref<8xf32>, %loss: memref<f32>) {
  %lrt = bufferization.to_tensor %lr restrict : memref<f32> to tensor<f32>
  %wt = bufferization.to_tensor %w restrict : memref<8xf32> to tensor<8xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<f32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<f32>) -> tensor<f32>
  %sum = linalg.generic {indexing_maps = [#id, #scalar], iterator_types = ["reduction"]}
      ins(%wt : tensor<8xf32>) outs(%init : tensor<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  } -> tensor<f32>
  %e1 = tensor.empty() : tensor<8xf32>
  %new = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel"]}
      ins(%wt, %lrt : tensor<8xf32>, tensor<f32>) outs(%e1 : tensor<8xf32>) {
  ^bb0(%a: f32, %l: f32, %o: f32):
    %sq = arith.mulf %a, %a : f32
    %d = arith.mulf %l, %sq : f32
    %r = arith.subf %a, %d : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  bufferization.materialize_in_destination %sum in restrict writable %loss : (tensor<f32>, memref<f32>) -> ()
  bufferization.materialize_in_destination %new in writable %w : (tensor<8xf32>, memref<8xf32>) -> ()
  return
}
