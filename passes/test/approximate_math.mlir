// RUN: kiln-opt %s --kiln-approximate-math | FileCheck %s

// f32 erf becomes arithmetic; exp (which has an LLVM intrinsic) stays.
// CHECK-LABEL: func.func @erf_and_exp
// CHECK-NOT: math.erf
// CHECK: math.fma
// CHECK: math.exp
// CHECK-NOT: math.erf
func.func @erf_and_exp(%x: f32) -> (f32, f32) {
  %e = math.erf %x : f32
  %x2 = math.exp %x : f32
  return %e, %x2 : f32, f32
}
