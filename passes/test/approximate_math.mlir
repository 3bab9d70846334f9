// RUN: kiln-opt %s --kiln-approximate-math | FileCheck %s

// f32 erf becomes one rational function on the clamped input, with no selects between pieces.
// CHECK-LABEL: func.func @erf
// CHECK-NOT: math.erf
// CHECK: arith.minimumf
// CHECK: arith.maximumf
// CHECK: math.fma
// CHECK: arith.divf
// CHECK-NOT: arith.select
// CHECK: return
func.func @erf(%x: f32) -> f32 {
  %e = math.erf %x : f32
  return %e : f32
}

// exp becomes MLIR's range reduction and polynomial; sin (no approximation here) stays for LLVM.
// CHECK-LABEL: func.func @exp_and_sin
// CHECK-NOT: math.exp
// CHECK: math.floor
// CHECK: math.sin
// CHECK-NOT: math.exp
func.func @exp_and_sin(%x: f32) -> (f32, f32) {
  %e = math.exp %x : f32
  %s = math.sin %x : f32
  return %e, %s : f32, f32
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
