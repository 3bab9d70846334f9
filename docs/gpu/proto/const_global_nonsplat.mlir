// Probe (get_global inside the loop body, non-splat): a constant tensor (memref.global, as Kiln's literals bufferize to) read inside a loop nest
// that becomes a kernel. Where does the global end up?
memref.global "private" constant @bias : memref<4xf32> = dense<[0.5, 1.5, 2.5, 3.5]>
func.func @addbias(%x: memref<4096x4xf32>, %y: memref<4096x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4096 = arith.constant 4096 : index
  %c1024 = arith.constant 4 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4096, %c1024) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<4096x4xf32>
    %b = memref.get_global @bias : memref<4xf32>
    %w = memref.load %b[%j] : memref<4xf32>
    %s = arith.addf %v, %w : f32
    memref.store %s, %y[%i, %j] : memref<4096x4xf32>
    scf.reduce
  }
  return
}
