// Row sum of [4096,1024] f32 with 256 threads per row: each thread accumulates a strided slice
// serially (coalesced loads), then a block-wide scf.reduce -> gpu.all_reduce.
func.func @rowsum(%x: memref<4096x1024xf32>, %out: memref<4096xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %c4096 = arith.constant 4096 : index
  %c1024 = arith.constant 1024 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c4096) step (%c1) {
    %s = scf.parallel (%t) = (%c0) to (%c256) step (%c1) init (%zero) -> f32 {
      %p = scf.for %j = %t to %c1024 step %c256 iter_args(%acc = %zero) -> f32 {
        %v = memref.load %x[%i, %j] : memref<4096x1024xf32>
        %r = arith.addf %acc, %v : f32
        scf.yield %r : f32
      }
      scf.reduce(%p : f32) {
      ^bb0(%a: f32, %b: f32):
        %r = arith.addf %a, %b : f32
        scf.reduce.return %r : f32
      }
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    memref.store %s, %out[%i] : memref<4096xf32>
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}
