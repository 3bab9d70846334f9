// RUN: kiln-opt %s --split-input-file --kiln-cse | FileCheck %s

#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>

// The same loop nest twice on the same input, each into its own empty tensor: computed once. A
// different body stays, and the destinations are not merged.
// CHECK-LABEL: func.func @twice
// CHECK-SAME: (%[[X:.*]]: tensor<8xf32>)
// CHECK: %[[E1:.*]] = tensor.empty
// CHECK: %[[A:.*]] = linalg.generic
// CHECK-SAME: outs(%[[E1]]
// CHECK: math.exp
// CHECK: %[[E2:.*]] = tensor.empty
// CHECK: %[[E3:.*]] = tensor.empty
// CHECK: %[[C:.*]] = linalg.generic
// CHECK-SAME: outs(%[[E3]]
// CHECK: math.log
// CHECK: return %[[A]], %[[A]], %[[C]]
func.func @twice(%x: tensor<8xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) {
  %e1 = tensor.empty() : tensor<8xf32>
  %a = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e1 : tensor<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %e2 = tensor.empty() : tensor<8xf32>
  %b = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e2 : tensor<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = math.exp %in : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %e3 = tensor.empty() : tensor<8xf32>
  %c = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<8xf32>) outs(%e3 : tensor<8xf32>) {
  ^bb0(%in: f32, %o: f32):
    %r = math.log %in : f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  return %a, %b, %c : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>
}

// -----

#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>

// Two sums accumulating into fills of the same constant are one; a sum from another start value is
// not.
// CHECK-LABEL: func.func @sums
// CHECK: %[[S:.*]] = linalg.generic
// CHECK: %[[T:.*]] = linalg.generic
// CHECK-NOT: linalg.generic
// CHECK: return %[[S]], %[[S]], %[[T]]
func.func @sums(%x: tensor<8xf32>) -> (tensor<f32>, tensor<f32>, tensor<f32>) {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %e1 = tensor.empty() : tensor<f32>
  %f1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<f32>) -> tensor<f32>
  %s1 = linalg.generic {indexing_maps = [#id, #scalar], iterator_types = ["reduction"]}
      ins(%x : tensor<8xf32>) outs(%f1 : tensor<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %acc, %in : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %e2 = tensor.empty() : tensor<f32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<f32>) -> tensor<f32>
  %s2 = linalg.generic {indexing_maps = [#id, #scalar], iterator_types = ["reduction"]}
      ins(%x : tensor<8xf32>) outs(%f2 : tensor<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %acc, %in : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  %e3 = tensor.empty() : tensor<f32>
  %f3 = linalg.fill ins(%one : f32) outs(%e3 : tensor<f32>) -> tensor<f32>
  %s3 = linalg.generic {indexing_maps = [#id, #scalar], iterator_types = ["reduction"]}
      ins(%x : tensor<8xf32>) outs(%f3 : tensor<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %r = arith.addf %acc, %in : f32
    linalg.yield %r : f32
  } -> tensor<f32>
  return %s1, %s2, %s3 : tensor<f32>, tensor<f32>, tensor<f32>
}
