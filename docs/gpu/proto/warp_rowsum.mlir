// Row sum, one warp (32 lanes) per row, 8 rows per 256-thread block: strided per-lane partials
// combined by gpu.subgroup_reduce (no shared memory, no barrier).
func.func @warp_rowsum(%x: memref<4096x1024xf32>, %out: memref<4096xf32>) {
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %c32 = arith.constant 32 : index
  %c512 = arith.constant 512 : index
  %c1024 = arith.constant 1024 : index
  %zero = arith.constant 0.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c512, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c8, %sz = %c1) {
    %row0 = arith.muli %bx, %c8 : index
    %row = arith.addi %row0, %ty : index
    %p = scf.for %j = %tx to %c1024 step %c32 iter_args(%acc = %zero) -> f32 {
      %v = memref.load %x[%row, %j] : memref<4096x1024xf32>
      %r = arith.addf %acc, %v : f32
      scf.yield %r : f32
    }
    %s = gpu.subgroup_reduce add %p uniform : (f32) -> f32
    memref.store %s, %out[%row] : memref<4096xf32>
    gpu.terminator
  }
  return
}
