// RUN: kiln-opt %s --kiln-reductions-to-loops --split-input-file | FileCheck %s

// Row sums: one parallel loop over rows; each result element is loaded once, carried through the
// reduction loop, and stored once. Body values (the index, the input element) map to the loops.
// CHECK-LABEL: func.func @row_sums
// CHECK: scf.parallel (%[[R:.*]]) = (%c0) to (%c4) step (%c1)
// CHECK:   %[[INIT:.*]] = memref.load %arg1[%[[R]]]
// CHECK:   %[[SUM:.*]] = scf.for %[[C:.*]] = %c0 to %c8 step %c1 iter_args(%[[ACC:.*]] = %[[INIT]]) -> (f32)
// CHECK:     %[[X:.*]] = memref.load %arg0[%[[R]], %[[C]]]
// CHECK:     %[[I:.*]] = arith.index_cast %[[C]]
// CHECK:     arith.addf %[[ACC]]
// CHECK:     scf.yield
// CHECK:   memref.store %[[SUM]], %arg1[%[[R]]]
// CHECK-NOT: linalg.generic
func.func @row_sums(%x: memref<4x8xf32>, %y: memref<4xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %c = linalg.index 1 : index
    %ci = arith.index_cast %c : index to i32
    %cf = arith.sitofp %ci : i32 to f32
    %p = arith.mulf %in, %cf : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A window read at affine positions (a convolution) and a full reduction (no parallel loops).
// CHECK-LABEL: func.func @window_and_total
// CHECK: scf.parallel
// CHECK: scf.for {{.*}} iter_args
// CHECK: affine.apply
// CHECK: memref.load %arg0
// CHECK: memref.store
// CHECK: scf.parallel (%{{.*}}) = (%c0{{.*}}) to (%c1{{.*}}) step (%c1{{.*}})
// CHECK: memref.load %arg3[]
// CHECK: scf.for {{.*}} iter_args
// CHECK: memref.store {{.*}} %arg3[]
func.func @window_and_total(%x: memref<6xf32>, %w: memref<3xf32>, %y: memref<4xf32>, %t: memref<f32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0 + d1)>, affine_map<(d0, d1) -> (d1)>,
                                   affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x, %w : memref<6xf32>, memref<3xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%in: f32, %wt: f32, %acc: f32):
    %p = arith.mulf %in, %wt : f32
    %s = arith.maximumf %acc, %p : f32
    linalg.yield %s : f32
  }
  linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> ()>],
                  iterator_types = ["reduction"]}
      ins(%x : memref<6xf32>) outs(%t : memref<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// A parallel loop inside the reductions (what kiln-interchange-loops makes of a column sum) is left
// to linalg-to-parallel-loops.
// CHECK-LABEL: func.func @inner_parallel
// CHECK: linalg.generic
func.func @inner_parallel(%x: memref<4x8xf32>, %y: memref<8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d1)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<4x8xf32>) outs(%y : memref<8xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  return
}
