// Variant of softmax_block.mlir with only the two reductions: also NOT converted (verified).
// Softmax over the last axis of [4096,1024] f32, one block (256 threads) per row, fused into one
// kernel: each thread strides over the row (coalesced), partials are combined with block-wide
// reductions (scf.reduce -> gpu.all_reduce -> shuffles + shared memory). Inits are identities
// because convert-parallel-loops-to-gpu drops a reduction's init value.
func.func @softmax(%x: memref<4096x1024xf32>, %y: memref<4096x1024xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %c4096 = arith.constant 4096 : index
  %c1024 = arith.constant 1024 : index
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  scf.parallel (%i) = (%c0) to (%c4096) step (%c1) {
    %m = scf.parallel (%t) = (%c0) to (%c256) step (%c1) init (%ninf) -> f32 {
      %p = scf.for %j = %t to %c1024 step %c256 iter_args(%acc = %ninf) -> f32 {
        %v = memref.load %x[%i, %j] : memref<4096x1024xf32>
        %r = arith.maximumf %acc, %v : f32
        scf.yield %r : f32
      }
      scf.reduce(%p : f32) {
      ^bb0(%a: f32, %b: f32):
        %r = arith.maximumf %a, %b : f32
        scf.reduce.return %r : f32
      }
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    %s = scf.parallel (%t) = (%c0) to (%c256) step (%c1) init (%zero) -> f32 {
      %p = scf.for %j = %t to %c1024 step %c256 iter_args(%acc = %zero) -> f32 {
        %v = memref.load %x[%i, %j] : memref<4096x1024xf32>
        %d = arith.subf %v, %m : f32
        %e = math.exp %d : f32
        %r = arith.addf %acc, %e : f32
        scf.yield %r : f32
      }
      scf.reduce(%p : f32) {
      ^bb0(%a: f32, %b: f32):
        %r = arith.addf %a, %b : f32
        scf.reduce.return %r : f32
      }
    } {mapping = [#gpu.loop_dim_map<processor = thread_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
    memref.store %s, %y[%i, %c0] : memref<4096x1024xf32>
    scf.reduce
  } {mapping = [#gpu.loop_dim_map<processor = block_x, map = (d0) -> (d0), bound = (d0) -> (d0)>]}
  return
}
