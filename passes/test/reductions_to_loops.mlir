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

// -----

// A fill of the result just before the reduction (constants in between): the fill's value starts
// each sum, and the fill goes. Not when something else touches memory in between.
// CHECK-LABEL: func.func @filled
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NOT: linalg.fill
// CHECK: scf.parallel
// CHECK-NOT: memref.load %arg1
// CHECK:   scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]])
// CHECK: linalg.fill ins(%{{.*}} : f32) outs(%arg2
// CHECK: memref.store %{{.*}}, %arg3
// CHECK: scf.parallel
// CHECK:   memref.load %arg2
func.func @filled(%x: memref<4x8xf32>, %y: memref<4xf32>, %z: memref<4xf32>, %w: memref<1xf32>) {
  %zero = arith.constant 0.0 : f32
  linalg.fill ins(%zero : f32) outs(%y : memref<4xf32>)
  %one = arith.constant 1.0 : f32
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%y : memref<4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  linalg.fill ins(%one : f32) outs(%z : memref<4xf32>)
  %c0 = arith.constant 0 : index
  memref.store %one, %w[%c0] : memref<1xf32>
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%z : memref<4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Arena buffers (memref.view, as kiln-plan-memory leaves them): a view is a buffer of its own, so
// a reduction into one view starts from its fill; but one that reads its own result's memory
// through another view at the same offset keeps the fill.
// CHECK-LABEL: func.func @arena
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[ZERO]])
// CHECK: linalg.fill
// CHECK: scf.parallel
// CHECK:   memref.load %[[OUT:.*]][
func.func @arena(%x: memref<4x8xf32>, %arena: memref<64xi8>) {
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %zero = arith.constant 0.0 : f32
  %a = memref.view %arena[%c16][] : memref<64xi8> to memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%a : memref<4xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x8xf32>) outs(%a : memref<4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  }
  %b = memref.view %arena[%c0][] : memref<64xi8> to memref<4xf32>
  %b2 = memref.view %arena[%c0][] : memref<64xi8> to memref<4xf32>
  linalg.fill ins(%zero : f32) outs(%b : memref<4xf32>)
  linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0)>,
                                   affine_map<(d0, d1) -> (d0)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x, %b2 : memref<4x8xf32>, memref<4xf32>) outs(%b : memref<4xf32>) {
  ^bb0(%in: f32, %old: f32, %acc: f32):
    %p = arith.addf %in, %old : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  }
  return
}
