// Wiring check for kiln-opt + lit + FileCheck: canonicalization folds constant arithmetic.
// RUN: kiln-opt %s --canonicalize | FileCheck %s

// CHECK-LABEL: func.func @fold_add
func.func @fold_add() -> i32 {
  // CHECK: %[[C:.*]] = arith.constant 5 : i32
  // CHECK-NOT: arith.addi
  // CHECK: return %[[C]]
  %a = arith.constant 2 : i32
  %b = arith.constant 3 : i32
  %c = arith.addi %a, %b : i32
  return %c : i32
}
