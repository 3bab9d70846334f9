// Kiln's own MLIR passes. Each has a lit/FileCheck test in passes/test/<name>.mlir run through
// kiln-opt; passes/pipeline.cc places them in the compiler's pipelines.
include "mlir/Pass/PassBase.td"

def PlanMemoryPass : Pass<"kiln-plan-memory", "mlir::func::FuncOp"> {
  let summary = "Places every temporary buffer of a function in one arena, reusing memory by liveness";
  let description = [{
    Runs after bufferization, before loops are generated, on functions whose temporaries are
    statically shaped `memref.alloc`s in the entry block. Each buffer is live from its allocation to
    the last use of it or of a view of it; buffers whose lifetimes do not overlap share memory. The
    function gets one more argument, the arena (`memref<Nxi8>`, N known at compile time and recorded
    in the `kiln.arena_bytes` attribute), every allocation becomes a `memref.view` into it at a
    64-byte-aligned offset, and deallocations of planned buffers disappear: the compiled code never
    calls malloc.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::memref::MemRefDialect"];
}

def SimplifyPass : Pass<"kiln-simplify"> {
  let summary = "Algebraic simplification, constant folding and dead-code removal on tensor IR";
  let description = [{
    Every dialect's canonicalization (constant folding, x * 1, dead pure ops, identity loops) plus
    Kiln's rewrites for what graphs produce and upstream keeps for IEEE exactness or does not see:
    `x + 0.0` → `x` (the sign of a zero may change: -0 + 0 is +0), a reshape of a reshape → one
    reshape, a transpose of a transpose → one transpose (none when the permutations cancel). Runs
    after elementwise fusion, which brings broadcast constants into loop bodies as scalars.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}
