// RUN: kiln-opt %s --pass-pipeline='builtin.module(func.func(kiln-plan-memory))' --split-input-file | FileCheck %s

// Three temporaries: %a and %b are live together, %c starts after %a's last use and reuses its memory.
// CHECK-LABEL: func.func @reuse
// CHECK-SAME: %[[ARENA:[a-z0-9]+]]: memref<512xi8>) attributes {kiln.arena_bytes = 512 : i64}
// CHECK-NOT: memref.alloc
// CHECK: %[[A:.*]] = arith.constant 0 : index
// CHECK: memref.view %[[ARENA]][%[[A]]][] : memref<512xi8> to memref<64xf32>
// CHECK: %[[B:.*]] = arith.constant 256 : index
// CHECK: memref.view %[[ARENA]][%[[B]]][] : memref<512xi8> to memref<64xf32>
// CHECK: %[[C:.*]] = arith.constant 0 : index
// CHECK: memref.view %[[ARENA]][%[[C]]][] : memref<512xi8> to memref<64xf32>
// CHECK-NOT: memref.dealloc
func.func @reuse(%in: memref<64xf32>, %out: memref<64xf32>) {
  %a = memref.alloc() : memref<64xf32>
  memref.copy %in, %a : memref<64xf32> to memref<64xf32>
  %b = memref.alloc() : memref<64xf32>
  memref.copy %a, %b : memref<64xf32> to memref<64xf32>
  memref.dealloc %a : memref<64xf32>
  %c = memref.alloc() : memref<64xf32>
  memref.copy %b, %c : memref<64xf32> to memref<64xf32>
  memref.copy %c, %out : memref<64xf32> to memref<64xf32>
  return
}

// -----

// A view keeps its buffer alive: %a is used through %v after %b exists, so they must not overlap.
// CHECK-LABEL: func.func @views
// CHECK-SAME: memref<128xi8>) attributes {kiln.arena_bytes = 128 : i64}
func.func @views(%out: memref<16xf32>) {
  %a = memref.alloc() : memref<4x4xf32>
  %v = memref.collapse_shape %a [[0, 1]] : memref<4x4xf32> into memref<16xf32>
  %b = memref.alloc() : memref<16xf32>
  memref.copy %v, %b : memref<16xf32> to memref<16xf32>
  memref.copy %v, %out : memref<16xf32> to memref<16xf32>
  memref.copy %b, %out : memref<16xf32> to memref<16xf32>
  return
}

// -----

// No temporaries: an empty arena.
// CHECK-LABEL: func.func @none
// CHECK-SAME: memref<0xi8>) attributes {kiln.arena_bytes = 0 : i64}
func.func @none(%in: memref<4xf32>, %out: memref<4xf32>) {
  memref.copy %in, %out : memref<4xf32> to memref<4xf32>
  return
}

// -----

// Large buffers (16 KiB and up) live together start at different offsets within a 4 KiB page, so a
// loop reading one and writing the other at the same index never has addresses that agree in the
// low 12 bits (4K aliasing): the first at 0 within its page, the second at 192 (each slot has a
// page to spare for that).
// CHECK-LABEL: func.func @staggered
// CHECK-SAME: memref<40960xi8>) attributes {kiln.arena_bytes = 40960 : i64}
// CHECK: %[[A:.*]] = arith.constant 0 : index
// CHECK: memref.view %{{.*}}[%[[A]]][] : memref<40960xi8> to memref<4096xf32>
// CHECK: %[[B:.*]] = arith.constant 20672 : index
// CHECK: memref.view %{{.*}}[%[[B]]][] : memref<40960xi8> to memref<4096xf32>
func.func @staggered(%in: memref<4096xf32>, %out: memref<4096xf32>) {
  %a = memref.alloc() : memref<4096xf32>
  memref.copy %in, %a : memref<4096xf32> to memref<4096xf32>
  %b = memref.alloc() : memref<4096xf32>
  memref.copy %a, %b : memref<4096xf32> to memref<4096xf32>
  memref.copy %b, %out : memref<4096xf32> to memref<4096xf32>
  return
}
