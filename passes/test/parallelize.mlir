// RUN: kiln-opt %s --split-input-file --kiln-parallelize | FileCheck %s

// A large parallel loop in a function with a runtime context: its body moves to a function of
// (closure, begin, end) over the first dimension, the buffers it uses travel in the closure as
// pointers, constants are cloned, and the loop becomes a kiln_rt_parallel_for call.
// CHECK: func.func private @kiln_rt_parallel_for(!llvm.ptr, i64, (!llvm.ptr, i64, i64) -> (), !llvm.ptr)
// CHECK-LABEL: func.func private @large_parallel_0
// CHECK-SAME: (%[[CLOSURE:.*]]: !llvm.ptr, %[[BEGIN:.*]]: i64, %[[END:.*]]: i64)
// CHECK-DAG: %[[TWO:.*]] = arith.constant 2.0
// CHECK: llvm.getelementptr %[[CLOSURE]][0]
// CHECK: %[[A:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<512x256xf32>
// CHECK: llvm.getelementptr %[[CLOSURE]][1]
// CHECK: %[[B:.*]] = builtin.unrealized_conversion_cast %{{.*}} to memref<512x256xf32>
// CHECK: arith.index_cast %[[BEGIN]]
// CHECK: arith.index_cast %[[END]]
// CHECK: scf.parallel
// CHECK: memref.load %[[A]]
// CHECK: arith.mulf %{{.*}}, %[[TWO]]
// CHECK: memref.store %{{.*}}, %[[B]]
// CHECK-LABEL: func.func @large
// CHECK-SAME: (%[[X:.*]]: memref<512x256xf32>, %[[Y:.*]]: memref<512x256xf32>, %[[CTX:.*]]: !llvm.ptr)
// CHECK: %[[SLOTS:.*]] = memref.alloca() : memref<2xi64>
// CHECK: memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: memref.store %{{.*}}, %[[SLOTS]]
// CHECK: memref.extract_aligned_pointer_as_index %[[Y]]
// CHECK: memref.store %{{.*}}, %[[SLOTS]]
// CHECK: %[[F:.*]] = constant @large_parallel_0
// CHECK: %[[N:.*]] = arith.constant 512 : i64
// CHECK: call @kiln_rt_parallel_for(%[[CTX]], %[[N]], %[[F]], %{{.*}})
// CHECK-NOT: scf.parallel
func.func @large(%a: memref<512x256xf32>, %b: memref<512x256xf32>, %ctx: !llvm.ptr) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c512 = arith.constant 512 : index
  %c256 = arith.constant 256 : index
  %two = arith.constant 2.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c512, %c256) step (%c1, %c1) {
    %x = memref.load %a[%i, %j] : memref<512x256xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %b[%i, %j] : memref<512x256xf32>
    scf.reduce
  }
  return
}

// -----

// Too little work to be worth a thread handoff, and a function without a context: both stay.
// CHECK-LABEL: func.func @small
// CHECK: scf.parallel
// CHECK-LABEL: func.func @no_context
// CHECK: scf.parallel
func.func @small(%a: memref<8xf32>, %ctx: !llvm.ptr) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %two = arith.constant 2.0 : f32
  scf.parallel (%i) = (%c0) to (%c8) step (%c1) {
    %x = memref.load %a[%i] : memref<8xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %a[%i] : memref<8xf32>
    scf.reduce
  }
  return
}
func.func @no_context(%a: memref<512x256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c512 = arith.constant 512 : index
  %c256 = arith.constant 256 : index
  %two = arith.constant 2.0 : f32
  scf.parallel (%i, %j) = (%c0, %c0) to (%c512, %c256) step (%c1, %c1) {
    %x = memref.load %a[%i, %j] : memref<512x256xf32>
    %y = arith.mulf %x, %two : f32
    memref.store %y, %a[%i, %j] : memref<512x256xf32>
    scf.reduce
  }
  return
}
