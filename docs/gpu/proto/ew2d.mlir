// One 2-D elementwise loop nest (as convert-linalg-to-parallel-loops emits it) to study thread mapping.
func.func @ew(%x: memref<4096x1024xf32>, %y: memref<4096x1024xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4096 = arith.constant 4096 : index
  %c1024 = arith.constant 1024 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c4096, %c1024) step (%c1, %c1) {
    %v = memref.load %x[%i, %j] : memref<4096x1024xf32>
    %e = math.exp %v : f32
    memref.store %e, %y[%i, %j] : memref<4096x1024xf32>
    scf.reduce
  }
  return
}
