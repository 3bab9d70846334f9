// RUN: kiln-opt %s --kiln-approximate-math | FileCheck %s

// f32 erf becomes one rational function on the clamped input; exp (which has an LLVM intrinsic) stays.
// CHECK-LABEL: func.func @erf_and_exp
// CHECK-NOT: math.erf
// CHECK: arith.minimumf
// CHECK: arith.maximumf
// CHECK: math.fma
// CHECK: arith.divf
// CHECK-NOT: arith.select
// CHECK: math.exp
// CHECK-NOT: math.erf
func.func @erf_and_exp(%x: f32) -> (f32, f32) {
  %e = math.erf %x : f32
  %x2 = math.exp %x : f32
  return %e, %x2 : f32, f32
}

// Vectors get splat constants; f64 erf is left to libm.
// CHECK-LABEL: func.func @vector_and_f64
// CHECK: arith.constant dense<4.000000e+00> : vector<8xf32>
// CHECK: arith.divf {{.*}} : vector<8xf32>
// CHECK: math.erf {{.*}} : f64
func.func @vector_and_f64(%v: vector<8xf32>, %d: f64) -> (vector<8xf32>, f64) {
  %a = math.erf %v : vector<8xf32>
  %b = math.erf %d : f64
  return %a, %b : vector<8xf32>, f64
}
