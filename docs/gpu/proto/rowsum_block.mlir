// Row sum of a [4096,1024] f32 tensor written as a nested scf.parallel whose inner loop is a
// reduction (scf.parallel ... init + scf.reduce), mapped by hand: rows -> block_x, columns -> thread_x.
// convert-parallel-loops-to-gpu turns the inner reduction into gpu.all_reduce; convert-gpu-to-nvvm
// expands that into warp shuffles + shared memory.
func.func @rowsum(%x: memref<4096x1024xf32>, %out: memref<4096xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4096 = arith.constant 4096 : index
  %c1024 = arith.constant 1024 : index
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c4096) step (%c1) {
    %sum = scf.parallel (%j) = (%c0) to (%c1024) step (%c1) init (%zero) -> f32 {
      %v = memref.load %x[%i, %j] : memref<4096x1024xf32>
      scf.reduce(%v : f32) {
      ^bb0(%a: f32, %b: f32):
        %s = arith.addf %a, %b : f32
        scf.reduce.return %s : f32
      }
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    memref.store %sum, %out[%i] : memref<4096xf32>
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}
