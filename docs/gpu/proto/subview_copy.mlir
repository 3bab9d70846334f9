// Probe: a strided subview (as tensor.extract_slice bufferizes) read by a loop nest that becomes a
// kernel, plus a host-side memref.copy (as bufferization emits for copies).
func.func @slice(%x: memref<64x128xf32>, %y: memref<64x64xf32>, %z: memref<64x128xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %sv = memref.subview %x[0, 32] [64, 64] [1, 1] : memref<64x128xf32> to memref<64x64xf32, strided<[128, 1], offset: 32>>
  scf.parallel (%i, %j) = (%c0, %c0) to (%c64, %c64) step (%c1, %c1) {
    %v = memref.load %sv[%i, %j] : memref<64x64xf32, strided<[128, 1], offset: 32>>
    memref.store %v, %y[%i, %j] : memref<64x64xf32>
    scf.reduce
  }
  memref.copy %x, %z : memref<64x128xf32> to memref<64x128xf32>
  return
}
