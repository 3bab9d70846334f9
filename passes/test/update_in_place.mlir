// RUN: kiln-opt %s --split-input-file --kiln-update-in-place | FileCheck %s

#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>

// w <- w - lr * g, then the new w is read again (e.g. by a norm output): the update writes w
// directly, the reader reads w, and the temporary and the copy are gone.
// CHECK-LABEL: func.func @update
// CHECK-SAME: (%[[LR:.*]]: memref<f32>, %[[G:.*]]: memref<8xf32>, %[[W:.*]]: memref<8xf32>, %[[OUT:.*]]: memref<f32>)
// CHECK-NOT: memref.alloc
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[W]], %[[G]], %[[LR]] : memref<8xf32>, memref<8xf32>, memref<f32>) outs(%[[W]] : memref<8xf32>)
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[W]] : memref<8xf32>) outs(%[[OUT]] : memref<f32>)
// CHECK-NOT: memref.copy
// CHECK: return
func.func @update(%lr: memref<f32>, %g: memref<8xf32>, %w: memref<8xf32>, %out: memref<f32>) {
  %new = memref.alloc() {alignment = 64 : i64} : memref<8xf32>
  linalg.generic {indexing_maps = [#id, #id, #scalar, #id], iterator_types = ["parallel"]}
      ins(%w, %g, %lr : memref<8xf32>, memref<8xf32>, memref<f32>) outs(%new : memref<8xf32>) {
  ^bb0(%a: f32, %b: f32, %l: f32, %o: f32):
    %d = arith.mulf %l, %b : f32
    %r = arith.subf %a, %d : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #scalar], iterator_types = ["reduction"]}
      ins(%new : memref<8xf32>) outs(%out : memref<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  memref.copy %new, %w : memref<8xf32> to memref<8xf32>
  memref.dealloc %new : memref<8xf32>
  return
}

// -----

#id = affine_map<(d0) -> (d0)>
#scalar = affine_map<(d0) -> ()>

// The old w is read after the update is computed: the update must wait for that read.
// CHECK-LABEL: func.func @old_value_read_later
// CHECK: %[[NEW:.*]] = memref.alloc
// CHECK: outs(%[[NEW]] : memref<8xf32>)
// CHECK: memref.copy %[[NEW]], %{{.*}}
func.func @old_value_read_later(%w: memref<8xf32>, %out: memref<f32>) {
  %new = memref.alloc() {alignment = 64 : i64} : memref<8xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%w : memref<8xf32>) outs(%new : memref<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %r = arith.mulf %a, %a : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #scalar], iterator_types = ["reduction"]}
      ins(%w : memref<8xf32>) outs(%out : memref<f32>) {
  ^bb0(%a: f32, %acc: f32):
    %s = arith.addf %acc, %a : f32
    linalg.yield %s : f32
  }
  memref.copy %new, %w : memref<8xf32> to memref<8xf32>
  return
}

// -----

#id = affine_map<(d0, d1) -> (d0, d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>

// The update reads w at another element than it writes (a transpose): writing in place would
// clobber elements still to be read.
// CHECK-LABEL: func.func @transposed_read
// CHECK: %[[NEW:.*]] = memref.alloc
// CHECK: memref.copy %[[NEW]], %{{.*}}
func.func @transposed_read(%w: memref<4x4xf32>) {
  %new = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
  linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]}
      ins(%w : memref<4x4xf32>) outs(%new : memref<4x4xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  }
  memref.copy %new, %w : memref<4x4xf32> to memref<4x4xf32>
  return
}
