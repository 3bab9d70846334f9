// RUN: kiln-opt %s --kiln-split-reductions --split-input-file | FileCheck %s

// A column sum of a 4096x32 matrix: 32 results. The row loop splits into 128 parts of 32 rows
// (32 x 128 = 4096 partial sums, 8192 would leave parts of 16 rows, under min-inner): x is seen as
// 128x32x32, the partials start at the sum's identity, and a second op folds them into the
// original result, its init included.
// CHECK-LABEL: func.func @column_sum
// CHECK-DAG: %[[X:.*]] = tensor.expand_shape %arg0 {{\[\[}}0, 1], [2]] output_shape [128, 32, 32] : tensor<4096x32xf32> into tensor<128x32x32xf32>
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[EMPTY:.*]] = tensor.empty() : tensor<32x128xf32>
// CHECK: %[[FILL:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%[[EMPTY]] : tensor<32x128xf32>)
// CHECK: %[[PARTS:.*]] = linalg.generic {indexing_maps = [#[[IN:.*]], #[[OUT:.*]]], iterator_types = ["reduction", "parallel", "parallel"]} ins(%[[X]] : tensor<128x32x32xf32>) outs(%[[FILL]] : tensor<32x128xf32>)
// CHECK:   arith.addf
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[PARTS]] : tensor<32x128xf32>) outs(%arg1 : tensor<32xf32>)
// CHECK:   arith.addf
// CHECK: return %[[SUM]]
#id = affine_map<(d0, d1) -> (d0, d1)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @column_sum(%x: tensor<4096x32xf32>, %init: tensor<32xf32>) -> tensor<32xf32> {
  %r = linalg.generic {indexing_maps = [#id, #col], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<4096x32xf32>) outs(%init : tensor<32xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %r : tensor<32xf32>
}

// -----

// A maximum over everything (one result): the identity of max is -inf.
// CHECK-LABEL: func.func @max_all
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<256xf32>)
// CHECK:   arith.maximumf
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<256xf32>) outs(%arg1 : tensor<f32>)
// CHECK:   arith.maximumf
#all = affine_map<(d0) -> (d0)>
#none = affine_map<(d0) -> ()>
func.func @max_all(%x: tensor<8192xf32>, %init: tensor<f32>) -> tensor<f32> {
  %r = linalg.generic {indexing_maps = [#all, #none], iterator_types = ["reduction"]}
      ins(%x : tensor<8192xf32>) outs(%init : tensor<f32>) {
  ^bb0(%in: f32, %acc: f32):
    %m = arith.maximumf %in, %acc : f32
    linalg.yield %m : f32
  } -> tensor<f32>
  return %r : tensor<f32>
}

// -----

// Enough results already (row sums of 8192 rows), a short reduction, and a long reduction read
// through a window (a convolution's input: x[i + k] * w[k]): left as they are.
// CHECK-LABEL: func.func @unsplit
// CHECK-NOT: tensor.expand_shape
// CHECK-COUNT-3: linalg.generic
// CHECK-NOT: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#win = affine_map<(d0, d1) -> (d0 + d1)>
#out = affine_map<(d0, d1) -> (d0)>
#red = affine_map<(d0, d1) -> (d1)>
func.func @unsplit(%rows: tensor<8192x64xf32>, %short: tensor<4x40xf32>, %x: tensor<4099xf32>, %w: tensor<4096xf32>,
                   %i1: tensor<8192xf32>, %i2: tensor<4xf32>, %i3: tensor<4xf32>) -> (tensor<8192xf32>, tensor<4xf32>, tensor<4xf32>) {
  %a = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%rows : tensor<8192x64xf32>) outs(%i1 : tensor<8192xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  } -> tensor<8192xf32>
  %b = linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%short : tensor<4x40xf32>) outs(%i2 : tensor<4xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %s = arith.addf %acc, %in : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %c = linalg.generic {indexing_maps = [#win, #red, #out], iterator_types = ["parallel", "reduction"]}
      ins(%x, %w : tensor<4099xf32>, tensor<4096xf32>) outs(%i3 : tensor<4xf32>) {
  ^bb0(%in: f32, %wk: f32, %acc: f32):
    %p = arith.mulf %in, %wk : f32
    %s = arith.addf %acc, %p : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  return %a, %b, %c : tensor<8192xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// A body that reads its own position along the split loop (here: only even rows count): in the
// parts that position is part * 32 + the position within the part.
// CHECK-LABEL: func.func @even_rows
// CHECK: linalg.generic
// CHECK:   %[[ROW:.*]] = linalg.index 0 : index
// CHECK:   %[[PART:.*]] = linalg.index 2 : index
// CHECK:   %[[BASE:.*]] = arith.muli %[[PART]], %c32
// CHECK:   %[[POS:.*]] = arith.addi %[[BASE]], %[[ROW]]
// CHECK:   arith.remui %[[POS]]
#rows = affine_map<(d0, d1) -> (d0, d1)>
#cols = affine_map<(d0, d1) -> (d1)>
func.func @even_rows(%x: tensor<4096x32xf32>, %init: tensor<32xf32>) -> tensor<32xf32> {
  %r = linalg.generic {indexing_maps = [#rows, #cols], iterator_types = ["reduction", "parallel"]}
      ins(%x : tensor<4096x32xf32>) outs(%init : tensor<32xf32>) {
  ^bb0(%in: f32, %acc: f32):
    %i = linalg.index 0 : index
    %c2 = arith.constant 2 : index
    %m = arith.remui %i, %c2 : index
    %c0 = arith.constant 0 : index
    %even = arith.cmpi eq, %m, %c0 : index
    %zero = arith.constant 0.0 : f32
    %v = arith.select %even, %in, %zero : f32
    %s = arith.addf %acc, %v : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %r : tensor<32xf32>
}
