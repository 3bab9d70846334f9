// RUN: kiln-opt %s --kiln-tensors-to-loops | FileCheck %s

// An elementwise chain (x * 1, exp, neg) as LowerGraph emits it becomes one loop (over the buffers
// collapsed to 1-D) that reads the input once and writes the output directly: fusion, x * 1 folded, no temporaries.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: %[[X:[a-z0-9]+]]: memref<4x8xf32>, %[[Y:[a-z0-9]+]]: memref<4x8xf32>, %{{.*}}: memref<0xi8>) attributes {kiln.arena_bytes = 0 : i64}
// CHECK-NOT: memref.alloc
// CHECK-DAG: %[[XC:.*]] = memref.collapse_shape %[[X]]
// CHECK-DAG: %[[YC:.*]] = memref.collapse_shape %[[Y]]
// CHECK: scf.parallel
// CHECK: %[[V:.*]] = memref.load %[[XC]]
// CHECK-NOT: arith.mulf
// CHECK: %[[E:.*]] = math.exp %[[V]]
// CHECK: %[[N:.*]] = arith.negf %[[E]]
// CHECK: memref.store %[[N]], %[[YC]]
// CHECK-NOT: scf.parallel
// CHECK: return
#id = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
func.func @chain(%x: memref<4x8xf32>, %y: memref<4x8xf32>) {
  %t = bufferization.to_tensor %x restrict : memref<4x8xf32> to tensor<4x8xf32>
  %one = arith.constant dense<1.0> : tensor<f32>
  %e0 = tensor.empty() : tensor<4x8xf32>
  %mul = linalg.generic {indexing_maps = [#id, #scalar, #id], iterator_types = ["parallel", "parallel"]}
      ins(%t, %one : tensor<4x8xf32>, tensor<f32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %e1 = tensor.empty() : tensor<4x8xf32>
  %exp = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%mul : tensor<4x8xf32>) outs(%e1 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = math.exp %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %neg = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%exp : tensor<4x8xf32>) outs(%e2 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.negf %a : f32
    linalg.yield %r : f32
  } -> tensor<4x8xf32>
  bufferization.materialize_in_destination %neg in restrict writable %y : (tensor<4x8xf32>, memref<4x8xf32>) -> ()
  return
}
