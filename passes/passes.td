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
    after elementwise fusion, which brings broadcast constants into loop bodies as scalars. Only
    side-effect-free ops are removed: effects' calls (ExternalCall) stay, in order, even when nothing
    uses their results.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}

def FuseElementwisePass : Pass<"kiln-fuse-elementwise"> {
  let summary = "Fuses chains of elementwise ops into one loop nest, recomputing cheap shared producers";
  let description = [{
    Fuses a parallel `linalg.generic` producer into each elementwise consumer, so a chain of
    elementwise graph ops (and broadcasts, which are indexing maps) becomes one loop nest with no
    intermediate tensor. Kiln's policy on top of upstream's single-use rule: a producer with several
    consumers is fused into each of them when it is cheap to recompute (a few arithmetic ops, no
    transcendental math), because re-reading its inputs costs less than writing and re-reading a
    temporary; an expensive producer (exp, log, erf, ...) with several consumers is computed once.
    Only linalg ops on tensors fuse; an effect's call (ExternalCall) is neither fused nor moved.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::affine::AffineDialect"];
}

def UpdateInPlacePass : Pass<"kiln-update-in-place", "mlir::func::FuncOp"> {
  let summary = "Writes a variable's new value straight into its buffer when nothing reads the old value later";
  let description = [{
    Runs after bufferization, before kiln-plan-memory. A training update is bufferized as a
    temporary computed by one loop nest and copied into the variable (a function argument) at the
    end of the step. When that loop nest writes every element of the temporary at the position it
    reads the variable (or does not read it), and nothing reads or writes the variable after it,
    the loop nest writes into the variable directly: the temporary and the copy disappear, and
    later readers of the new value read the variable.
  }];
  let dependentDialects = ["mlir::memref::MemRefDialect"];
}

def LowerLibraryCallsPass : Pass<"kiln-lower-library-calls", "mlir::ModuleOp"> {
  let summary = "Turns typed library call sites into calls of the runtime's C kernel hooks";
  let description = [{
    Runs after the memory plan. A library call (oneDNN matmul or convolution) is lowered as a
    `func.call` of a private declaration marked `kiln.library_hook = "<hook>"` whose parameters are
    the site's exact buffer types, so bufferization and kiln-plan-memory see every buffer it reads
    and writes. This pass replaces each such call with a call of `<hook>` itself taking one
    `!llvm.ptr` per operand (the buffers' aligned pointers), the C ABI of runtime/dnnl_kernels.h,
    and erases the site declarations. Each public function taking a runtime context (`F` or
    `F_run`) gets a function `F_prepare(context)` calling `<hook>_prepare(context, params)` for each
    of its sites, so kernels (oneDNN primitives) are made once before the first run, never during
    one; a site's parameters must therefore be a constant global. A site also marked `kiln.effect`
    (an effectful op's call of an external function, ExternalCall in graph/lowering.h) takes no
    parameters and gets no prepare call.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect", "mlir::memref::MemRefDialect",
                           "mlir::arith::ArithDialect"];
}

def ParallelizePass : Pass<"kiln-parallelize", "mlir::ModuleOp"> {
  let summary = "Runs large outermost parallel loops on the runtime's thread pool";
  let description = [{
    Runs on loops (after linalg lowers to scf.parallel/scf.for), in functions that take a runtime
    context (their one `!llvm.ptr` argument). Each `scf.parallel` in a function's entry block whose
    estimated work (iterations times nested operations) is at least `min-work` and whose first
    dimension has static bounds is outlined into a function `(closure, begin, end)` that runs
    iterations [begin, end) of that dimension; the loop is replaced by a call of
    `kiln_rt_parallel_for(context, trip_count, function, closure)`, which splits the range over the
    context's threads (runtime/kiln_runtime.h). The closure is a stack array of 64-bit slots holding
    what the body uses from outside: buffers (their aligned pointers; shapes, strides and offsets are
    static and rebuilt inside) and scalars. Constants are cloned instead. A loop that uses anything
    else (a buffer of dynamic shape) stays serial.
  }];
  let options = [Option<"minWork", "min-work", "int64_t", /*default=*/"32768",
                        "Least estimated work (iterations x operations) worth splitting">];
  let dependentDialects = ["mlir::LLVM::LLVMDialect", "mlir::memref::MemRefDialect",
                           "mlir::arith::ArithDialect", "mlir::func::FuncDialect",
                           "mlir::scf::SCFDialect"];
}

def ApproximateMathPass : Pass<"kiln-approximate-math"> {
  let summary = "Replaces f32 erf with a rational approximation, which vectorizes";
  let description = [{
    libm's erff is a scalar call that keeps LLVM from vectorizing the loop around it (the exact GELU
    of a transformer FFN spends most of its time there). Kiln's approximation is one rational
    function of x^2 on x clamped to [-4, 4] (about 10 ULP of erf at worst, max abs error 4.4e-7 in
    f32; Kiln's transcendental tolerance is 1e-4): 14 arithmetic ops and no selects, where MLIR's
    piecewise polynomial needs ~40 with blends between its pieces. f32 exp, log, tanh, log1p and
    expm1 take MLIR's approximations (a softmax's exp was a libm call per element: 9% of the encoder
    layer). Other math functions keep their intrinsics or libm calls.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::math::MathDialect",
                           "mlir::vector::VectorDialect"];
}

def CsePass : Pass<"kiln-cse", "mlir::func::FuncOp"> {
  let summary = "Common-subexpression elimination of graph values, on tensors";
  let description = [{
    Replaces a side-effect-free operation of a function's body by an earlier equivalent one (same
    op, attributes, operands and region bodies; locations ignored) — autodiff and composites often
    compute the same value twice. Operands that are blank destinations count as equivalent: two
    `tensor.empty` of one type, or two `linalg.fill`s of one constant into such empties. Unlike MLIR's
    cse it never merges the destinations themselves, which empty-tensor elimination must keep
    distinct (merging them would let two results share one buffer). Ops with effects (calls,
    allocations) are never merged: two identical effects both happen.
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect"];
}

def InterchangeLoopsPass : Pass<"kiln-interchange-loops"> {
  let summary = "Makes the result's unit-stride dim the innermost loop of contractions, so it vectorizes";
  let description = [{
    Runs on linalg.generic ops with reduction loops (the generated-loop path of convolutions,
    batched matmuls, column sums) before they become loops. Their loops run result dims first and
    reductions innermost, so the innermost loop reads a filter or matrix with a stride and sums
    serially. When the result's last dim is a parallel loop that every operand reads along its own
    last dim or not at all, that loop moves innermost: the inner loop then walks the result and the
    operands contiguously (an axpy), which LLVM vectorizes without reassociating any sum.

    With `thread-per-element` (GPU targets), the aim is the opposite: a thread per result element, so parallel loops move
    outermost (reductions innermost, in order), and an op with no loops (a rank-0 result: a mean's
    division) gets one loop of one iteration over unit-dim views, so that it becomes a kernel too;
    buffer copies become loop nests as well (on a GPU they copy device memory).
  }];
  let options = [Option<"thread_per_element", "thread-per-element", "bool", /*default=*/"false",
                        "Parallel loops outermost, at least one loop per op (GPU kernels)">];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::memref::MemRefDialect"];
}

def SplitReductionsPass : Pass<"kiln-split-reductions"> {
  let summary = "Splits long reductions with few results into parts folded by a second op (GPU)";
  let description = [{
    On a GPU each result element of a reduction is one thread that folds its elements in order: a
    convolution's bias gradient (32 channels, each a sum of 50,000 elements) would be 32 threads.
    For a linalg.generic on tensors with one result, a recognized combiner (arith ops with a neutral
    element: sums, products, maxima, minima) and fewer than `threads` result elements, this splits
    one reduction loop of a reduction over at least `min_length` elements per result into (part,
    rest): the op computes a partial result per part (`parts` more
    threads, a divisor of that loop's range, each part at least `min_inner` elements), and a second
    op folds the parts into the original result. Inputs read along the split loop are reshaped
    (tensor.expand_shape) so every loop stays a plain dim of some operand.
  }];
  let options = [Option<"threads", "threads", "int64_t", /*default=*/"8192",
                        "Aim for this many result elements, partial ones included">,
                 Option<"min_inner", "min-inner", "int64_t", /*default=*/"32",
                        "Each part folds at least this many elements">,
                 Option<"min_length", "min-length", "int64_t", /*default=*/"1024",
                        "Only reductions of at least this many elements per result are split "
                        "(shorter ones cost less than the extra kernels)">];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::tensor::TensorDialect",
                           "mlir::arith::ArithDialect"];
}

def ReductionsToLoopsPass : Pass<"kiln-reductions-to-loops"> {
  let summary = "Lowers reductions to loops that carry the partial result in a register";
  let description = [{
    Upstream linalg-to-loops reads and writes a reduction's result element in memory on every
    iteration of its reduction loops: a store-to-load dependence that neither vectorizes nor
    pipelines, since LLVM cannot prove the result buffer is not one of the inputs. For linalg.generic
    ops on buffers whose loops are parallel first and reductions last (with static ranges and one
    result), this emits an scf.parallel over the parallel loops whose body loads the result element
    once, carries it through nested scf.for reduction loops as an iteration argument (the op's body
    inlined, inputs loaded at their indexing maps), and stores it once. When a linalg.fill of the
    whole result comes just before (side-effect-free ops in between), the fill's value starts the
    accumulation instead of a load and the fill goes: one pass over memory fewer, and on a GPU one
    kernel fewer (W2: 31 → 26 kernels). Other linalg ops are left to linalg-to-parallel-loops.
  }];
  let dependentDialects = ["mlir::affine::AffineDialect", "mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect", "mlir::scf::SCFDialect"];
}

def CollapseLoopsPass : Pass<"kiln-collapse-loops"> {
  let summary = "Merges an elementwise loop nest's contiguous trailing loops into one loop";
  let description = [{
    Runs on elementwise linalg.generic ops on buffers before they become loops. A nest like
    [64, 28, 28, 32] has a 32-iteration innermost loop, which LLVM unrolls completely and then
    vectorizes the next loop out, with a stride: gathers (measured: a ReLU gradient several times
    slower than its memory traffic). When the trailing loops are read by every operand as its own
    trailing dims, contiguous in memory, they become one loop over their product
    (linalg::collapseOpIterationDims, operands through memref.collapse_shape).
  }];
  let dependentDialects = ["mlir::linalg::LinalgDialect", "mlir::memref::MemRefDialect",
                           "mlir::affine::AffineDialect", "mlir::arith::ArithDialect"];
}

def FuseRowsPass : Pass<"kiln-fuse-rows", "mlir::func::FuncOp"> {
  let summary = "Runs consecutive loop nests row block by row block, so a row is read from memory once";
  let description = [{
    Runs on linalg ops on buffers (after bufferization, before kiln-plan-memory). A softmax,
    layernorm or cross-entropy is several loop nests over the same rows (a max, a sum, the
    normalized output), each a pass over memory. Consecutive nests whose loop 0 is parallel over
    the same number of rows, and which touch every buffer any of them writes only at row d0, are
    replaced by one `scf.parallel` over blocks of rows running each nest on its operands' rows of
    the block (subviews): the block stays in cache between nests, and the loop parallelizes like any
    other. Buffers read without d0 (a gamma, a bias) are read whole. Allocations, views and scalar
    ops between the nests move above the loop; anything else (a library call, a copy) ends a group.
  }];
  let options = [Option<"tileBytes", "tile-bytes", "int64_t", /*default=*/"32768",
                        "Bytes of the widest operand per block of rows">];
  let dependentDialects = ["mlir::arith::ArithDialect", "mlir::memref::MemRefDialect",
                           "mlir::scf::SCFDialect"];
}
