// Kiln-shaped IR right after bufferization + kiln-plan-memory: bare memref args, one i8 arena
// carved with memref.view, an opaque context pointer last. Ops: GELU(erf) + tanh + exp elementwise,
// softmax over the last axis (row max, exp, row sum, divide), and a plain row sum output.
#id = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
func.func @main(%x: memref<4096x1024xf32>, %y: memref<4096x1024xf32>, %rs: memref<4096xf32>,
                %arena: memref<32768xi8>, %ctx: !llvm.ptr) attributes {kiln.arena_bytes = 32768 : i64} {
  %c0 = arith.constant 0 : index
  %c16k = arith.constant 16384 : index
  %mx = memref.view %arena[%c0][] : memref<32768xi8> to memref<4096xf32>
  %sm = memref.view %arena[%c16k][] : memref<32768xi8> to memref<4096xf32>
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  // Elementwise: y = gelu(x) + tanh(x) * exp(-x)
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%x : memref<4096x1024xf32>) outs(%y : memref<4096x1024xf32>) {
  ^bb0(%a: f32, %o: f32):
    %h = arith.constant 0.5 : f32
    %one = arith.constant 1.0 : f32
    %s = arith.constant 0.70710678 : f32
    %as = arith.mulf %a, %s : f32
    %e = math.erf %as : f32
    %e1 = arith.addf %e, %one : f32
    %ah = arith.mulf %a, %h : f32
    %g = arith.mulf %ah, %e1 : f32
    %t = math.tanh %a : f32
    %na = arith.negf %a : f32
    %ex = math.exp %na : f32
    %te = arith.mulf %t, %ex : f32
    %r = arith.addf %g, %te : f32
    linalg.yield %r : f32
  }
  // Row sum of x (a plain reduction output).
  linalg.fill ins(%zero : f32) outs(%rs : memref<4096xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4096x1024xf32>) outs(%rs : memref<4096xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  // Softmax of y over the last axis, in place.
  linalg.fill ins(%ninf : f32) outs(%mx : memref<4096xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%y : memref<4096x1024xf32>) outs(%mx : memref<4096xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.maximumf %a, %acc : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y, %mx : memref<4096x1024xf32>, memref<4096xf32>) outs(%y : memref<4096x1024xf32>) {
  ^bb0(%a: f32, %m: f32, %o: f32):
    %d = arith.subf %a, %m : f32
    %e = math.exp %d : f32
    linalg.yield %e : f32
  }
  linalg.fill ins(%zero : f32) outs(%sm : memref<4096xf32>)
  linalg.generic {indexing_maps = [#id, #row], iterator_types = ["parallel", "reduction"]}
      ins(%y : memref<4096x1024xf32>) outs(%sm : memref<4096xf32>) {
  ^bb0(%a: f32, %acc: f32):
    %r = arith.addf %a, %acc : f32
    linalg.yield %r : f32
  }
  linalg.generic {indexing_maps = [#id, #row, #id], iterator_types = ["parallel", "parallel"]}
      ins(%y, %sm : memref<4096x1024xf32>, memref<4096xf32>) outs(%y : memref<4096x1024xf32>) {
  ^bb0(%a: f32, %s: f32, %o: f32):
    %r = arith.divf %a, %s : f32
    linalg.yield %r : f32
  }
  return
}
