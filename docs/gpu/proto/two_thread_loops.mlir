// Probe: can convert-parallel-loops-to-gpu take two sequential thread-mapped loops (no reductions)
// inside one block-mapped loop?
func.func @two(%x: memref<4096x256xf32>, %y: memref<4096x256xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %c4096 = arith.constant 4096 : index
  scf.parallel (%i) = (%c0) to (%c4096) step (%c1) {
    scf.parallel (%t) = (%c0) to (%c256) step (%c1) {
      %v = memref.load %x[%i, %t] : memref<4096x256xf32>
      %e = math.exp %v : f32
      memref.store %e, %y[%i, %t] : memref<4096x256xf32>
      scf.reduce
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    scf.parallel (%t) = (%c0) to (%c256) step (%c1) {
      %v = memref.load %y[%i, %t] : memref<4096x256xf32>
      %e = math.tanh %v : f32
      memref.store %e, %y[%i, %t] : memref<4096x256xf32>
      scf.reduce
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}
