// RUN: kiln-opt %s --kiln-fuse-rows=tile-bytes=64 --split-input-file | FileCheck %s

// Row sums, then x divided by its row's sum: one loop over blocks of rows (64 bytes of x's row =
// 16 floats = 2 rows per block), each nest on its block's rows; the allocation moves above.
// CHECK-LABEL: func.func @normalize
// CHECK: %[[SUM:.*]] = memref.alloc() : memref<6xf32>
// CHECK: scf.parallel (%[[R:.*]]) = (%c0) to (%c6) step (%c2)
// CHECK:   %[[S0:.*]] = memref.subview %[[SUM]][%[[R]]] [2] [1]
// CHECK:   linalg.fill ins(%{{.*}} : f32) outs(%[[S0]]
// CHECK:   %[[X1:.*]] = memref.subview %arg0[%[[R]], 0] [2, 8] [1, 1]
// CHECK:   linalg.generic {{.*}} ins(%[[X1]] : memref<2x8xf32, strided<[8, 1], offset: ?>>) outs(%{{.*}} : memref<2xf32, strided<[1], offset: ?>>)
// CHECK:   %[[X2:.*]] = memref.subview %arg0[%[[R]], 0] [2, 8] [1, 1]
// CHECK:   %[[Y:.*]] = memref.subview %arg2[%[[R]], 0] [2, 8] [1, 1]
// CHECK:   linalg.generic {{.*}} ins(%[[X2]], %{{.*}}, %arg1 : {{.*}}) outs(%[[Y]]
// CHECK: }
// CHECK-NOT: linalg
// CHECK: return
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @normalize(%x: memref<6x8xf32>, %gamma: memref<8xf32>, %y: memref<6x8xf32>) {
  %zero = arith.constant 0.0 : f32
  %sum = memref.alloc() : memref<6xf32>
  linalg.fill ins(%zero : f32) outs(%sum : memref<6xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<6x8xf32>) outs(%sum : memref<6xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [#id, #row, #col, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x, %sum, %gamma : memref<6x8xf32>, memref<6xf32>, memref<8xf32>) outs(%y : memref<6x8xf32>) {
  ^bb0(%in: f32, %s: f32, %g: f32, %out: f32):
    %d = arith.divf %in, %s : f32
    %m = arith.mulf %d, %g : f32
    linalg.yield %m : f32
  }
  return
}

// -----

// A nest that reads a written buffer along another dim (a transpose) needs every row of it: the
// group ends before it. Alone, a nest is left as it is.
// CHECK-LABEL: func.func @transposed_read
// CHECK-NOT: scf.parallel
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK-NOT: scf.parallel
#id = affine_map<(d0, d1) -> (d0, d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>
func.func @transposed_read(%x: memref<4x4xf32>, %y: memref<4x4xf32>) {
  %tmp = memref.alloc() : memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%tmp : memref<4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %n = arith.negf %in : f32
    linalg.yield %n : f32
  }
  linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]}
      ins(%tmp : memref<4x4xf32>) outs(%y : memref<4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  }
  return
}

// -----

// A body that loads from a buffer itself (a gather) may read any row: not fused. Neither is a
// nest across a call (a library kernel).
// CHECK-LABEL: func.func @gather_and_call
// CHECK-NOT: scf.parallel
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func private @kernel(memref<4x4xf32>)
func.func @gather_and_call(%x: memref<4x4xf32>, %y: memref<4x4xf32>, %z: memref<4x4xf32>) {
  %tmp = memref.alloc() : memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4x4xf32>) outs(%tmp : memref<4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  }
  linalg.generic {indexing_maps = [#id], iterator_types = ["parallel", "parallel"]} outs(%y : memref<4x4xf32>) {
  ^bb0(%out: f32):
    %c3 = arith.constant 3 : index
    %i = linalg.index 1 : index
    %v = memref.load %tmp[%c3, %i] : memref<4x4xf32>
    linalg.yield %v : f32
  }
  func.call @kernel(%y) : (memref<4x4xf32>) -> ()
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y : memref<4x4xf32>) outs(%z : memref<4x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    linalg.yield %in : f32
  }
  return
}
