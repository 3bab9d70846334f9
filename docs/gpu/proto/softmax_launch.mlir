// Fused softmax over the last axis of [4096,1024] f32 written directly as gpu.launch (the form a
// Kiln "row reduction" lowering would emit, since convert-parallel-loops-to-gpu cannot take several
// thread-mapped loops in one block): one 256-thread block per row, strided coalesced loads,
// two block-wide gpu.all_reduce ops (max, then sum), then the normalized write.
func.func @softmax(%x: memref<4096x1024xf32>, %y: memref<4096x1024xf32>) {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %c4096 = arith.constant 4096 : index
  %c1024 = arith.constant 1024 : index
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %c1f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c4096, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %pm = scf.for %j = %tx to %c1024 step %c256 iter_args(%acc = %ninf) -> f32 {
      %v = memref.load %x[%bx, %j] : memref<4096x1024xf32>
      %r = arith.maximumf %acc, %v : f32
      scf.yield %r : f32
    }
    %m = gpu.all_reduce maximumf %pm uniform {} : (f32) -> f32
    %ps = scf.for %j = %tx to %c1024 step %c256 iter_args(%acc = %zero) -> f32 {
      %v = memref.load %x[%bx, %j] : memref<4096x1024xf32>
      %d = arith.subf %v, %m : f32
      %e = math.exp %d : f32
      %r = arith.addf %acc, %e : f32
      scf.yield %r : f32
    }
    %s = gpu.all_reduce add %ps uniform {} : (f32) -> f32
    %inv = arith.divf %c1f, %s : f32
    scf.for %j = %tx to %c1024 step %c256 {
      %v = memref.load %x[%bx, %j] : memref<4096x1024xf32>
      %d = arith.subf %v, %m : f32
      %e = math.exp %d : f32
      %q = arith.mulf %e, %inv : f32
      memref.store %q, %y[%bx, %j] : memref<4096x1024xf32>
    }
    gpu.terminator
  }
  return
}
