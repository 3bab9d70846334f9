// RUN: kiln-opt %s --kiln-collapse-loops --split-input-file | FileCheck %s

// An elementwise nest over [4, 3, 8] buffers becomes one loop over 96 elements.
// CHECK-LABEL: func.func @elementwise
// CHECK-DAG: %[[A:.*]] = memref.collapse_shape %arg0 {{\[}}[0, 1, 2]] : memref<4x3x8xf32> into memref<96xf32>
// CHECK-DAG: %[[B:.*]] = memref.collapse_shape %arg1 {{\[}}[0, 1, 2]]
// CHECK-DAG: %[[C:.*]] = memref.collapse_shape %arg2 {{\[}}[0, 1, 2]]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel"]} ins(%[[A]], %[[B]] : memref<96xf32>, memref<96xf32>) outs(%[[C]] : memref<96xf32>)
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @elementwise(%a: memref<4x3x8xf32>, %b: memref<4x3x8xf32>, %c: memref<4x3x8xf32>) {
  linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%a, %b : memref<4x3x8xf32>, memref<4x3x8xf32>) outs(%c : memref<4x3x8xf32>) {
  ^bb0(%x: f32, %y: f32, %out: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A per-row operand (d0) keeps loop 0 apart; the trailing loops, read by every operand as its own
// trailing dims, merge.
// CHECK-LABEL: func.func @row_broadcast
// CHECK: memref.collapse_shape %arg0 {{\[}}[0], [1, 2]] : memref<4x3x8xf32> into memref<4x24xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
func.func @row_broadcast(%a: memref<4x3x8xf32>, %r: memref<4xf32>, %c: memref<4x3x8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1, d2)>, affine_map<(d0, d1, d2) -> (d0)>,
                                   affine_map<(d0, d1, d2) -> (d0, d1, d2)>],
                  iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%a, %r : memref<4x3x8xf32>, memref<4xf32>) outs(%c : memref<4x3x8xf32>) {
  ^bb0(%x: f32, %y: f32, %out: f32):
    %s = arith.mulf %x, %y : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A per-channel operand (the last dim alone) and a transposed read leave the nest as it is.
// CHECK-LABEL: func.func @unchanged
// CHECK-NOT: collapse_shape
// CHECK: iterator_types = ["parallel", "parallel"]
// CHECK: iterator_types = ["parallel", "parallel"]
func.func @unchanged(%a: memref<4x8xf32>, %bias: memref<8xf32>, %c: memref<4x8xf32>, %t: memref<8x4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>,
                                   affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%a, %bias : memref<4x8xf32>, memref<8xf32>) outs(%c : memref<4x8xf32>) {
  ^bb0(%x: f32, %y: f32, %out: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>],
                  iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<4x8xf32>) outs(%t : memref<8x4xf32>) {
  ^bb0(%x: f32, %out: f32):
    linalg.yield %x : f32
  }
  return
}
