// RUN: kiln-opt %s --split-input-file --kiln-simplify | FileCheck %s

// x + 0.0 and x * 1.0 disappear; x + 1.0 stays.
// CHECK-LABEL: func.func @add_zero
// CHECK-SAME: (%[[X:.*]]: f32)
// CHECK-NEXT: %[[ONE:.*]] = arith.constant 1.0
// CHECK-NEXT: %[[R:.*]] = arith.addf %[[X]], %[[ONE]]
// CHECK-NEXT: return %[[R]]
func.func @add_zero(%x: f32) -> f32 {
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %a = arith.addf %x, %zero : f32
  %b = arith.mulf %one, %a : f32
  %c = arith.addf %b, %one : f32
  return %c : f32
}

// -----

// A chain of reshapes is one reshape.
// CHECK-LABEL: func.func @reshape_chain
// CHECK-SAME: (%[[X:.*]]: tensor<2x6xf32>
// CHECK: %[[R:.*]] = tensor.reshape %[[X]]
// CHECK-SAME: (tensor<2x6xf32>, tensor<2xindex>) -> tensor<4x3xf32>
// CHECK-NOT: tensor.reshape
// CHECK: return %[[R]]
func.func @reshape_chain(%x: tensor<2x6xf32>) -> tensor<4x3xf32> {
  %s1 = arith.constant dense<[12]> : tensor<1xindex>
  %s2 = arith.constant dense<[4, 3]> : tensor<2xindex>
  %a = tensor.reshape %x(%s1) : (tensor<2x6xf32>, tensor<1xindex>) -> tensor<12xf32>
  %b = tensor.reshape %a(%s2) : (tensor<12xf32>, tensor<2xindex>) -> tensor<4x3xf32>
  return %b : tensor<4x3xf32>
}

// -----

// Reshaping back to the original shape is nothing.
// CHECK-LABEL: func.func @reshape_round_trip
// CHECK-SAME: (%[[X:.*]]: tensor<2x6xf32>)
// CHECK-NEXT: return %[[X]]
func.func @reshape_round_trip(%x: tensor<2x6xf32>) -> tensor<2x6xf32> {
  %s1 = arith.constant dense<[12]> : tensor<1xindex>
  %s2 = arith.constant dense<[2, 6]> : tensor<2xindex>
  %a = tensor.reshape %x(%s1) : (tensor<2x6xf32>, tensor<1xindex>) -> tensor<12xf32>
  %b = tensor.reshape %a(%s2) : (tensor<12xf32>, tensor<2xindex>) -> tensor<2x6xf32>
  return %b : tensor<2x6xf32>
}

// -----

// Transposes that cancel vanish; others compose into one.
// CHECK-LABEL: func.func @transpose_chain
// CHECK-SAME: (%[[X:.*]]: tensor<2x3x4xf32>)
// CHECK: %[[T:.*]] = linalg.transpose ins(%[[X]] : tensor<2x3x4xf32>) outs(%{{.*}} : tensor<4x2x3xf32>) permutation = [2, 0, 1]
// CHECK-NOT: linalg.transpose
// CHECK: return %[[X]], %[[T]]
func.func @transpose_chain(%x: tensor<2x3x4xf32>) -> (tensor<2x3x4xf32>, tensor<4x2x3xf32>) {
  %e1 = tensor.empty() : tensor<3x2x4xf32>
  %a = linalg.transpose ins(%x : tensor<2x3x4xf32>) outs(%e1 : tensor<3x2x4xf32>) permutation = [1, 0, 2]
  %e2 = tensor.empty() : tensor<2x3x4xf32>
  %b = linalg.transpose ins(%a : tensor<3x2x4xf32>) outs(%e2 : tensor<2x3x4xf32>) permutation = [1, 0, 2]
  %e3 = tensor.empty() : tensor<4x2x3xf32>
  %c = linalg.transpose ins(%a : tensor<3x2x4xf32>) outs(%e3 : tensor<4x2x3xf32>) permutation = [2, 1, 0]
  return %b, %c : tensor<2x3x4xf32>, tensor<4x2x3xf32>
}

// -----

// Dead pure ops go.
// CHECK-LABEL: func.func @dead
// CHECK-NOT: math.exp
// CHECK: return
func.func @dead(%x: f32) -> f32 {
  %unused = math.exp %x : f32
  return %x : f32
}
