#!/usr/bin/python3
"""Times Kiln's GPU benchmark workloads on its peers: PyTorch eager, PyTorch CUDA graphs, JAX jit.

The GPU counterpart of bench/peers.py. Kiln's GPU runner times the same workloads;
bench/gpu_table.py combines both outputs into the markdown table of docs/performance.md. This
script only measures the peers and prints JSON (stdout, or --json FILE) plus a short
human-readable table on stderr.

Usage:

  python3 bench/gpu_peers.py [--workloads W1b128,W2,W3,W4a]
      [--peers torch_eager,torch_cuda_graph,jax_jit] [--min-time 0.5] [--warmup-time 0.2]
      [--json out.json] [--seed 0] [--tf32] [--device cuda|cpu] [--time-limit 160]
      [--child-timeout 75] [--large-copy-mib 1024]

  python3 bench/gpu_peers.py --device cpu --min-time 0.05     # smoke test without a GPU

Environment: python3 with torch (a CUDA build for --device cuda; 1.13 or 2.x), numpy, and
optionally jax (with its CUDA plugin for --device cuda). Nothing is installed or downloaded.
Without JAX, or with a JAX that has no GPU backend, "jax_jit" is null and "jax_jit_note" says why;
the torch peers are unaffected. XLA_PYTHON_CLIENT_PREALLOCATE is set to false (unless already set)
so that JAX does not grab 75% of the GPU memory.

Isolation. Each peer runs in its own child process (this script re-invoked with --child), one
after the other, each under a timeout (--child-timeout, default 75 s, and never past the
--time-limit deadline, default 160 s from start; the child's process group is killed): a hang, a
crash or a sticky CUDA error in one peer (e.g. a failed graph capture) costs only that peer's
remaining workloads, which are then null with a note. Children report each workload as soon as it
is measured, so a killed child keeps what it finished. The JAX child does not import torch (no
second copy of the CUDA libraries next to JAX's): the parent builds every workload's weights and
inputs with torch on the CPU and hands them over as .npz files. The parent never touches the GPU.

Workloads (float32; defined exactly as in bench/peers.py, by the same code, copied here because
importing peers.py parses its command line and may re-execute the interpreter: weights from
torch's generator seeded with --seed, Glorot/Xavier-uniform weights and zero biases for every
Linear and Conv2d; inputs created once on the CPU, outside the timed region, then moved to the
device):
  W1b128  MLP Linear(784,512) ReLU Linear(512,512) ReLU Linear(512,10), inference at batch 128,
          x ~ U[0,1).
  W2      that MLP's training step at batch 128 (integer labels): mean softmax cross-entropy,
          backward, SGD lr 0.01.
  W3      the CNN training step at batch 64: Conv2d(1,32,3,pad 1) ReLU MaxPool2d(2)
          Conv2d(32,64,3,pad 1) ReLU MaxPool2d(2) Flatten Linear(3136,128) ReLU Linear(128,10),
          same loss, SGD lr 0.1. torch: NCHW. JAX: NHWC activations and HWIO kernels
          (lax.conv_general_dilated, "SAME" = pad 1), max pool by lax.reduce_window; the same
          weights, permuted (Linear(3136,128)'s input axis reordered from torch's (C,H,W) flatten
          order to NHWC's (H,W,C)), so the losses agree.
  W4a     y = gelu(x * a + b), exact (erf) GELU, x [4096,1024] ~ N(0,1), a and b [1024] ~ N(0,1).
          It reads 16 MiB (x) + 8 KiB (a, b) and writes 16 MiB (y).

Peers:
  torch_eager       PyTorch eager on cuda:0. Inference under torch.inference_mode (the
                    nn.Sequential; F.gelu(x * a + b)). Training step:
                    opt.zero_grad(set_to_none=True), forward, F.cross_entropy, backward,
                    opt.step() of torch.optim.SGD(lr) (no momentum; torch 2.x picks its foreach
                    implementation on CUDA).
  torch_cuda_graph  The same call or step captured once with torch.cuda.graph and replayed with
                    g.replay() on static tensors, following PyTorch's CUDA-graph docs ("whole
                    network capture"): 3 warm-up iterations on a side stream,
                    zero_grad(set_to_none=True) before capture, forward + loss + backward + step
                    captured; inference is captured under inference_mode the same way. After
                    capture the parameters are reset to their initial values and one replay must
                    reproduce eager's first-step loss ("loss_first_replay" in "extras"). CUDA only
                    (--device cpu: null, "needs CUDA").
  jax_jit           jax.jit of the same computation on JAX's GPU device: the MLP, or the gelu
                    expression (jax.nn.gelu(approximate=False)); training: jax.value_and_grad of
                    the mean softmax cross-entropy (log_softmax, integer labels) and the SGD update
                    p - lr * g, one jitted function with donate_argnums=(0,) for the parameters.
                    The first call (tracing + XLA compilation) is outside the timed region
                    ("compile_s").
  d2d_copy          (top level; measured in the torch_eager child) dst.copy_(src) of a 16 MiB
                    (4096x1024 f32) tensor, the ceiling for W4a's traffic, and of a large one
                    (d2d_copy_large: 1 GiB; 64 MiB with --device cpu). GB/s counts bytes read +
                    written (2 * size / time), median and best. 16 MiB source + 16 MiB
                    destination may partly stay in an H100/H200's 50 MB L2 between back-to-back
                    copies (as may W4a's x and y between back-to-back calls); the large copy
                    cannot, it is the HBM figure.

Precision: by default every peer computes in true float32: torch.backends.cuda.matmul.allow_tf32
and torch.backends.cudnn.allow_tf32 are set False (the latter defaults to True in torch, for
convolutions), and JAX's jax_default_matmul_precision is set to "highest" (JAX's default lets XLA
use TF32 on GPUs). --tf32 allows TF32 in both instead. "settings" records which. The cuDNN
autotuner (torch.backends.cudnn.benchmark) is left at its default (off); XLA autotunes as it does
by default.

Timing. For each measured function: warm-up calls (each followed by a device synchronization)
until at least 10 calls and --warmup-time seconds (default 0.2); then timed batches of k
back-to-back calls (k chosen from the warm-up so a batch takes about 2 ms, at least 1):
synchronize, start the clock, k calls, synchronize (torch.cuda.synchronize(); JAX:
block_until_ready on the last results), stop the clock; until the batches add up to --min-time
seconds (default 0.5) and at least 10 calls. Each batch gives one per-call sample (batch time / k);
reported are the median and the minimum of those samples in microseconds, the call count
("runs"), the sample count and k ("batch"). Calls inside a batch are queued asynchronously, so a
sample is the steady-state cost per call: the larger of the host's launch work (Python, framework,
driver) and the device's execution. The garbage collector is off during timing. Training steps
are timed whole; before each timed batch, outside the timed region, the parameters are reset to
their initial values (in place for torch; a fresh device copy for JAX, whose step donates them).
With --device cpu there is no device to synchronize (JAX still blocks on its results).

Output JSON:
  {"device": "cuda" | "cpu", "device_name": "NVIDIA H100 80GB HBM3" | null,
   "torch_version": ..., "torch_cuda_version": ..., "cudnn_version": ...,
   "jax_version": ... | null, "jax_devices": [...] | null, "settings": {...},
   "children": {peer: {"status": "ok" | "timeout after N s" | "exit code N" | ..., "wall_s",
                       versions and settings the child reported}},
   "d2d_copy": {"bytes": 16777216, "median_us", "min_us", "runs", "samples", "batch",
                "gbps_median", "gbps_best"} | null, "d2d_copy_large": {...} | null,
   "d2d_copy_note": ...,
   "results": {"W1b128": {"desc": ...,
                          "torch_eager": {"median_us", "min_us", "runs", "samples", "batch"} | null,
                          "torch_eager_note": ..., "torch_cuda_graph": ..., ...,
                          "jax_jit": ..., "jax_jit_note": ..., "extras": {peer: {...}},
                          "loss_first_step": {"torch_cpu": ..., peer: ...}  (training),
                          "max_abs_diff": {peer: ...}  (inference, vs torch on the CPU)}, ...},
   "total_wall_s": ...}
"""

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

import timing

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # before any `import jax`

WORKLOADS = ["W1b128", "W2", "W3", "W4a"]
PEERS = ["torch_eager", "torch_cuda_graph", "jax_jit"]
DESC = {
    "W1b128": "MLP 784-512-512-10 inference, batch 128",
    "W2": "MLP training step, batch 128, SGD lr 0.01",
    "W3": "CNN training step, batch 64, SGD lr 0.1",
    "W4a": "gelu_erf(x*a+b), x [4096,1024]",
}
TRAINING = {"W2": 0.01, "W3": 0.1}  # workload -> SGD learning rate
COPY_BYTES = 4096 * 1024 * 4


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of " + ",".join(WORKLOADS) + " (default: all)")
    p.add_argument("--peers", default=",".join(PEERS),
                   help="comma-separated subset of " + ",".join(PEERS) + " (default: all)")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cuda (cuda:0, default) or cpu (smoke test)")
    p.add_argument("--min-time", type=float, default=0.5,
                   help="seconds of timed batches per measurement (default 0.5)")
    p.add_argument("--warmup-time", type=float, default=0.2,
                   help="minimum warm-up seconds per measurement (default 0.2)")
    p.add_argument("--json", metavar="FILE", help="write the JSON here instead of stdout")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")
    p.add_argument("--tf32", action="store_true",
                   help="allow TF32 matmuls/convolutions (default: true float32)")
    p.add_argument("--time-limit", type=float, default=160.0,
                   help="overall deadline in seconds for all children (default 160)")
    p.add_argument("--child-timeout", type=float, default=75.0,
                   help="timeout in seconds for one peer's child process (default 75)")
    p.add_argument("--large-copy-mib", type=int, default=None,
                   help="size of the large d2d copy (default 1024; 64 with --device cpu)")
    # Internal: the child-process side.
    p.add_argument("--child", choices=PEERS, help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = p.parse_args()

    def subset(text, allowed, what):
        names = [w.strip() for w in text.split(",") if w.strip()]
        unknown = [w for w in names if w not in allowed]
        if unknown or not names:
            p.error(f"unknown {what}(s) {unknown}; choose from {','.join(allowed)}")
        return [w for w in allowed if w in names]  # canonical order, no duplicates

    args.workloads = subset(args.workloads, WORKLOADS, "workload")
    args.peers = subset(args.peers, PEERS, "peer")
    if args.min_time <= 0 or args.warmup_time < 0:
        p.error("--min-time must be > 0 and --warmup-time >= 0")
    if args.large_copy_mib is None:
        args.large_copy_mib = 64 if args.device == "cpu" else 1024
    return args


def log(msg):
    print(f"gpu_peers: {msg}", file=sys.stderr, flush=True)


def err_note(prefix, e):
    return f"{prefix}: {type(e).__name__}: {e}"[:600]


# ------------------------------------------------------------------------------------- timing


def measure(fn, sync, min_time, warmup_time, reset=None):
    """Median/min per-call microseconds of fn(); sync() waits for the device (module docstring)."""
    return timing.measure(fn, min_time, warmup_time, sync=sync, reset=reset, target_batch_s=2e-3)


# --------------------------------------------------------------- workloads (torch, on the CPU)


def build(name, seed):
    """(kind, module, inputs) for a workload, on the CPU: bench/torch_models.py's, as bench/peers.py
    builds them."""
    import torch_models
    return torch_models.workload(name, seed)


def cpu_reference(kind, module, inputs):
    """Inference output, or first-step loss, of torch on the CPU (before any update)."""
    import torch
    import torch.nn.functional as F
    with torch.no_grad():
        if kind == "infer":
            module.eval()
            return module(*inputs)
        module.train()
        return float(F.cross_entropy(module(inputs[0]), inputs[1]))


def to_numpy(t):
    import numpy as np
    t = t.detach().cpu().contiguous()
    try:
        return t.numpy().copy()
    except Exception:  # e.g. torch 1.13 next to numpy 2 (no numpy bridge): the slow way
        dtype = np.int32 if not t.is_floating_point() else np.float32
        return np.asarray(t.tolist(), dtype=dtype).reshape(tuple(t.shape))


def write_jax_data(names, seed, directory):
    """One .npz per workload for the JAX child: parameters (torch layout, module.parameters()
    order), inputs, and the CPU reference output for inference workloads."""
    import numpy as np
    for name in names:
        kind, module, inputs = build(name, seed)
        ref = cpu_reference(kind, module, inputs)
        arrays = {f"p{i}": to_numpy(p) for i, p in enumerate(module.parameters())}
        for i, t in enumerate(inputs):
            arrays[f"in{i}"] = to_numpy(t)
        if kind == "train":
            arrays["in1"] = arrays["in1"].astype(np.int32)  # JAX disables int64 by default
        else:
            arrays["ref"] = to_numpy(ref)
        np.savez(os.path.join(directory, f"{name}.npz"), **arrays)


# ------------------------------------------------------------------------------- child: torch


def torch_child(args, emit):
    import torch
    import torch.nn.functional as F

    peer = args.child
    cuda = args.device == "cuda"
    meta = {"kind": "meta", "torch_version": torch.__version__,
            "torch_cuda_version": getattr(torch.version, "cuda", None)}
    if cuda:
        if not torch.cuda.is_available():
            raise RuntimeError(f"torch {torch.__version__} sees no CUDA device "
                               f"(torch.version.cuda={torch.version.cuda})")
        dev = torch.device("cuda:0")
        torch.cuda.set_device(dev)
        sync = torch.cuda.synchronize
        meta["device_name"] = torch.cuda.get_device_name(dev)
        meta["device_capability"] = list(torch.cuda.get_device_capability(dev))
        meta["cudnn_version"] = torch.backends.cudnn.version()
    else:
        dev = torch.device("cpu")
        sync = lambda: None  # noqa: E731
        meta["device_name"] = "cpu"
    try:
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    except Exception as e:
        meta["tf32_note"] = err_note("could not set TF32 flags", e)
    try:  # torch >= 2.9 also has fp32_precision; the legacy flags still read back
        meta["allow_tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32,
                              "cudnn": torch.backends.cudnn.allow_tf32}
        meta["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    except Exception as e:
        meta["allow_tf32"] = err_note("could not read TF32 flags", e)
    emit(meta)

    def timed(fn, reset=None):
        return measure(fn, sync, args.min_time, args.warmup_time, reset=reset)

    def side_stream_warmup(fn, iters=3):
        """The CUDA-graph docs' warm-up: a few iterations on a side stream before capture."""
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        out = []
        with torch.cuda.stream(s):
            for _ in range(iters):
                out.append(fn())
        torch.cuda.current_stream().wait_stream(s)
        sync()
        return out

    def run(name):
        kind, module, cpu_inputs = build(name, args.seed)
        ref = cpu_reference(kind, module, cpu_inputs)
        module = module.to(dev)
        inputs = [t.to(dev) for t in cpu_inputs]
        extras = {}
        if kind == "infer":
            module.eval()
            with torch.inference_mode():
                if peer == "torch_eager":
                    out = module(*inputs)
                    sync()
                    extras["max_abs_diff"] = float((out.cpu() - ref).abs().max())
                    del out
                    res = timed(lambda: module(*inputs))
                else:
                    side_stream_warmup(lambda: module(*inputs))
                    g = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(g):
                        static_out = module(*inputs)
                    g.replay()
                    sync()
                    extras["max_abs_diff"] = float((static_out.cpu() - ref).abs().max())
                    res = timed(g.replay)
            return res, extras

        # Training.
        module.train()
        x, y = inputs
        opt = torch.optim.SGD(module.parameters(), lr=TRAINING[name])
        params = list(module.parameters())
        initial = [p.detach().clone() for p in params]
        extras["loss_cpu_reference"] = round(ref, 6)

        def reset():
            with torch.no_grad():
                for p, p0 in zip(params, initial):
                    p.copy_(p0)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(module(x), y)
            loss.backward()
            opt.step()
            return loss

        if peer == "torch_eager":
            extras["loss_first_step"] = round(float(step().detach()), 6)
            reset()
            res = timed(step, reset=reset)
            extras["loss_after_timing"] = round(float(step().detach()), 6)
            return res, extras

        # Whole-network capture (PyTorch docs, "CUDA Graphs" / "Whole-network capture").
        losses = side_stream_warmup(step)
        extras["loss_first_step"] = round(float(losses[0].detach()), 6)  # before any update
        del losses
        opt.zero_grad(set_to_none=True)
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            static_loss = F.cross_entropy(module(x), y)
            static_loss.backward()
            opt.step()
        reset()  # undo the warm-up steps (capture itself runs nothing)
        g.replay()
        sync()
        extras["loss_first_replay"] = round(float(static_loss.detach()), 6)
        reset()
        res = timed(g.replay, reset=reset)
        g.replay()
        sync()
        extras["loss_after_timing"] = round(float(static_loss.detach()), 6)
        return res, extras

    for name in args.workloads:
        log(f"{peer}: {name} ...")
        if peer == "torch_cuda_graph" and not cuda:
            emit({"kind": "result", "workload": name, "value": None, "note": "needs CUDA"})
            continue
        try:
            res, extras = run(name)
            emit({"kind": "result", "workload": name, "value": res, "extras": extras,
                  "note": "cuda:0" if cuda else "cpu"})
        except Exception as e:  # keep the other workloads' numbers
            emit({"kind": "result", "workload": name, "value": None,
                  "note": err_note(f"{peer} failed", e)})
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()

    if peer == "torch_eager":
        for key, nbytes in (("d2d_copy", COPY_BYTES), ("d2d_copy_large",
                                                       args.large_copy_mib * 1024 * 1024)):
            log(f"{peer}: {key} {nbytes >> 20} MiB ...")
            try:
                src = torch.empty(nbytes // 4, dtype=torch.float32, device=dev).fill_(1.0)
                dst = torch.empty_like(src)
                res = timed(lambda: dst.copy_(src))
                res["bytes"] = nbytes
                res["gbps_median"] = round(2 * nbytes / (res["median_us"] * 1e3), 2)
                res["gbps_best"] = round(2 * nbytes / (res["min_us"] * 1e3), 2)
                emit({"kind": "copy", "key": key, "value": res,
                      "note": "dst.copy_(src), GB/s = 2 * bytes / time (read + write)"})
                del src, dst
            except Exception as e:
                emit({"kind": "copy", "key": key, "value": None,
                      "note": err_note("copy failed", e)})
            gc.collect()
            if cuda:
                torch.cuda.empty_cache()


# --------------------------------------------------------------------------------- child: JAX


def jax_child(args, emit):
    import numpy as np
    import jax
    import jax.numpy as jnp
    from jax import lax

    meta = {"kind": "meta", "jax_version": jax.__version__}
    try:
        import jaxlib
        meta["jaxlib_version"] = jaxlib.__version__
    except Exception:
        pass
    emit(dict(meta))  # versions first, in case the device is missing
    meta = {"kind": "meta"}
    if args.device == "cuda":
        try:
            dev = jax.devices("gpu")[0]
        except Exception as e:
            try:
                have = [str(d) for d in jax.devices()]
            except Exception:
                have = "?"
            raise RuntimeError(f"JAX {jax.__version__} has no GPU backend ({type(e).__name__}: "
                               f"{str(e)[:200]}); devices: {have}")
    else:
        dev = jax.devices("cpu")[0]
    meta["jax_devices"] = [str(d) for d in jax.devices(dev.platform)]
    meta["jax_device_kind"] = getattr(dev, "device_kind", None)
    precision = "tensorfloat32" if args.tf32 else "highest"
    try:
        jax.config.update("jax_default_matmul_precision", precision)
        meta["jax_default_matmul_precision"] = precision
    except Exception as e:
        meta["jax_default_matmul_precision"] = None
        meta["precision_note"] = err_note("could not set jax_default_matmul_precision", e)
    emit(meta)

    tree_map = jax.tree_util.tree_map

    def put(a):
        return jax.device_put(a, dev)

    def mlp(params, x):
        (w0, b0), (w1, b1), (w2, b2) = params
        h = jax.nn.relu(x @ w0 + b0)
        h = jax.nn.relu(h @ w1 + b1)
        return h @ w2 + b2

    def pool(h):  # MaxPool2d(2) on NHWC
        return lax.reduce_window(h, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def cnn(params, x):  # x NHWC
        (c1w, c1b), (c2w, c2b), (f1w, f1b), (f2w, f2b) = params
        dn = ("NHWC", "HWIO", "NHWC")
        h = lax.conv_general_dilated(x, c1w, (1, 1), "SAME", dimension_numbers=dn) + c1b
        h = pool(jax.nn.relu(h))
        h = lax.conv_general_dilated(h, c2w, (1, 1), "SAME", dimension_numbers=dn) + c2b
        h = pool(jax.nn.relu(h))
        h = h.reshape(h.shape[0], -1)  # (H, W, C) order; f1w's rows were permuted to match
        h = jax.nn.relu(h @ f1w + f1b)
        return h @ f2w + f2b

    def xent(logits, y):
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def params_from(d, conv):
        """Torch-layout parameters (p0, p1, ...) -> JAX layout, as (weight, bias) pairs."""
        p = [d[f"p{i}"] for i in range(len([k for k in d.files if k.startswith("p")]))]
        pairs = []
        for i in range(0, len(p), 2):
            w, b = p[i], p[i + 1]
            if w.ndim == 4:  # Conv2d OIHW -> HWIO
                w = w.transpose(2, 3, 1, 0)
            elif conv and w.shape[1] == 64 * 7 * 7:  # Linear(3136,128): (C,H,W) -> (H,W,C) inputs
                w = w.reshape(w.shape[0], 64, 7, 7).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
                w = w.T
            else:
                w = w.T  # Linear (out, in) -> (in, out)
            pairs.append((np.ascontiguousarray(w), b))
        return pairs

    def block(v):
        return jax.block_until_ready(v)

    def run(name):
        d = np.load(os.path.join(args.data_dir, f"{name}.npz"))
        extras = {}
        if name in ("W1b128", "W4a"):
            if name == "W1b128":
                params = tree_map(put, params_from(d, False))
                xs = [put(d["in0"])]
                f = jax.jit(mlp)
                call = lambda: f(params, *xs)  # noqa: E731
            else:
                xs = [put(d["in0"]), put(d["in1"]), put(d["in2"])]
                f = jax.jit(lambda x, a, b: jax.nn.gelu(x * a + b, approximate=False))
                call = lambda: f(*xs)  # noqa: E731
            t = time.perf_counter()
            out = block(call())
            extras["compile_s"] = round(time.perf_counter() - t, 3)
            extras["max_abs_diff"] = float(np.abs(np.asarray(out) - d["ref"]).max())
            last = [out]

            def fn():
                last[0] = call()

            res = measure(fn, lambda: block(last[0]), args.min_time, args.warmup_time)
            return res, extras

        # Training: value_and_grad + SGD, jitted, parameters donated.
        conv = name == "W3"
        apply, lr = (cnn, TRAINING[name]) if conv else (mlp, TRAINING[name])
        initial = params_from(d, conv)
        x = d["in0"].transpose(0, 2, 3, 1) if conv else d["in0"]  # NCHW -> NHWC
        x, y = put(np.ascontiguousarray(x)), put(d["in1"])

        def loss_fn(p, x, y):
            return xent(apply(p, x), y)

        def sgd_step(p, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
            return tree_map(lambda w, g: w - lr * g, p, grads), loss

        step = jax.jit(sgd_step, donate_argnums=(0,))
        state = [tree_map(put, initial), None]

        def reset():
            state[0] = block(tree_map(put, initial))

        def fn():
            state[0], state[1] = step(state[0], x, y)

        t = time.perf_counter()
        fn()
        block(state)
        extras["compile_s"] = round(time.perf_counter() - t, 3)
        extras["loss_first_step"] = round(float(state[1]), 6)
        reset()
        res = measure(fn, lambda: block(state), args.min_time, args.warmup_time, reset=reset)
        fn()
        extras["loss_after_timing"] = round(float(state[1]), 6)
        return res, extras

    import warnings
    warnings.filterwarnings("ignore", message=".*donated buffers were not usable.*")
    for name in args.workloads:
        log(f"jax_jit: {name} ...")
        try:
            res, extras = run(name)
            emit({"kind": "result", "workload": name, "value": res, "extras": extras,
                  "note": f"jax.jit on {dev}"})
        except Exception as e:
            emit({"kind": "result", "workload": name, "value": None,
                  "note": err_note("jax_jit failed", e)})
        gc.collect()


def child_main(args):
    out = open(args.child_out, "a")

    def emit(record):
        out.write(json.dumps(record) + "\n")
        out.flush()

    try:
        if args.child == "jax_jit":
            jax_child(args, emit)
        else:
            torch_child(args, emit)
    except Exception as e:  # setup failed: the parent notes it for every missing workload
        emit({"kind": "fatal", "note": err_note(f"{args.child} unavailable", e)})
    out.close()


# ------------------------------------------------------------------------------------- parent


def run_child(args, peer, data_dir, timeout, tmp):
    """Runs one peer's child; returns (records, status string)."""
    out_path = os.path.join(tmp, f"{peer}.jsonl")
    cmd = [sys.executable, os.path.abspath(__file__), "--child", peer, "--child-out", out_path,
           "--workloads", ",".join(args.workloads), "--device", args.device,
           "--min-time", str(args.min_time), "--warmup-time", str(args.warmup_time),
           "--seed", str(args.seed), "--large-copy-mib", str(args.large_copy_mib)]
    if args.tf32:
        cmd.append("--tf32")
    if data_dir:
        cmd += ["--data-dir", data_dir]
    env = dict(os.environ)
    if peer == "jax_jit" and args.device == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
    t = time.perf_counter()
    # stdout of the child goes to our stderr: our stdout may be the JSON.
    proc = subprocess.Popen(cmd, stdout=sys.stderr, stderr=sys.stderr, env=env,
                            start_new_session=True)
    try:
        rc = proc.wait(timeout=timeout)
        status = "ok" if rc == 0 else (f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}")
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)  # the child's own process group (start_new_session)
        except OSError:
            proc.kill()
        proc.wait()
        status = f"timeout after {timeout:.0f} s"
    records = []
    if os.path.exists(out_path):
        with open(out_path) as f:
            for line in f:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    pass  # a line cut short by the kill
    return records, status, round(time.perf_counter() - t, 2)


def main():
    args = parse_args()
    if args.child:
        child_main(args)
        return
    start = time.perf_counter()
    deadline = start + args.time_limit
    report = {"device": args.device, "device_name": None, "torch_version": None,
              "torch_cuda_version": None, "cudnn_version": None, "jax_version": None,
              "jax_devices": None,
              "settings": {"min_time_s": args.min_time, "warmup_time_s": args.warmup_time,
                           "seed": args.seed, "tf32": args.tf32, "peers": args.peers,
                           "time_limit_s": args.time_limit, "child_timeout_s": args.child_timeout,
                           "python": sys.version.split()[0],
                           "XLA_PYTHON_CLIENT_PREALLOCATE":
                               os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")},
              "children": {}, "d2d_copy": None, "d2d_copy_large": None,
              "d2d_copy_note": "not measured (torch_eager not run)",
              "results": {n: {"desc": DESC[n]} for n in args.workloads}}
    for name in args.workloads:
        for peer in PEERS:
            report["results"][name][peer] = None
            report["results"][name][peer + "_note"] = "not requested"
        report["results"][name]["extras"] = {}

    with tempfile.TemporaryDirectory(prefix="gpu_peers_") as tmp:
        data_dir = None
        if "jax_jit" in args.peers:
            import importlib.util
            if importlib.util.find_spec("jax") is None:
                report["children"]["jax_jit"] = {
                    "status": f"not run: jax is not importable by {sys.executable}"}
            else:
                try:
                    data_dir = os.path.join(tmp, "data")
                    os.mkdir(data_dir)
                    log("building JAX inputs on the CPU ...")
                    write_jax_data(args.workloads, args.seed, data_dir)
                except Exception as e:
                    data_dir = None
                    report["children"]["jax_jit"] = {"status": err_note("input export failed", e)}
        # The CPU reference losses (torch, forward only, before any update).
        try:
            import torch
            report["torch_version"] = torch.__version__
            for name in args.workloads:
                if name in TRAINING:
                    ref = cpu_reference(*build(name, args.seed))
                    report["results"][name]["loss_first_step"] = {"torch_cpu": round(ref, 6)}
        except Exception as e:
            log(err_note("CPU reference failed", e))

        for peer in args.peers:
            if peer == "jax_jit" and data_dir is None:
                note = report["children"].get("jax_jit", {}).get("status", "no input data")
                for name in args.workloads:
                    report["results"][name]["jax_jit_note"] = note
                continue
            if peer == "torch_cuda_graph" and args.device != "cuda":
                for name in args.workloads:
                    report["results"][name]["torch_cuda_graph_note"] = "needs CUDA"
                report["children"][peer] = {"status": "not run (needs CUDA)"}
                continue
            remaining = deadline - time.perf_counter()
            timeout = min(args.child_timeout, remaining)
            if remaining < 5:
                for name in args.workloads:
                    report["results"][name][peer + "_note"] = (
                        f"skipped: --time-limit {args.time_limit:.0f} s reached")
                report["children"][peer] = {"status": "skipped (time limit)"}
                continue
            log(f"running {peer} (timeout {timeout:.0f} s) ...")
            records, status, wall = run_child(args, peer, data_dir, timeout, tmp)
            report["children"][peer] = {"status": status, "wall_s": wall}
            fatal = None
            seen = set()
            for r in records:
                kind = r.pop("kind", None)
                if kind == "meta":
                    for k, v in r.items():
                        if k in report and report[k] is None:
                            report[k] = v
                        else:
                            report["children"][peer][k] = v
                elif kind == "fatal":
                    fatal = r["note"]
                elif kind == "copy":
                    report[r["key"]] = r["value"]
                    report["d2d_copy_note"] = r["note"]
                elif kind == "result":
                    name = r["workload"]
                    seen.add(name)
                    res = report["results"][name]
                    res[peer] = r["value"]
                    res[peer + "_note"] = r.get("note")
                    extras = r.get("extras") or {}
                    res["extras"][peer] = extras
                    if "loss_first_step" in extras:
                        res.setdefault("loss_first_step", {})[peer] = extras["loss_first_step"]
                    if "max_abs_diff" in extras:
                        res.setdefault("max_abs_diff", {})[peer] = extras["max_abs_diff"]
            if fatal:
                report["children"][peer]["note"] = fatal
            for name in args.workloads:
                if name not in seen:
                    report["results"][name][peer + "_note"] = fatal or (
                        f"child process ended ({status}) before reporting this workload")
            if peer == "torch_eager" and report["d2d_copy"] is None and (
                    report["d2d_copy_note"] == "not measured (torch_eager not run)"):
                report["d2d_copy_note"] = fatal or (
                    f"torch_eager child ended ({status}) before measuring the copy")
    if report["device_name"] is None and report["children"].get("jax_jit", {}).get(
            "jax_device_kind"):
        report["device_name"] = report["children"]["jax_jit"]["jax_device_kind"]
    report["total_wall_s"] = round(time.perf_counter() - start, 2)

    text = json.dumps(report, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    print_table(report)


def fmt(r):
    return "-" if r is None else f"{r['median_us']:.1f} / {r['min_us']:.1f}"


def print_table(report):
    err = sys.stderr
    print(f"gpu_peers: {report['device_name']} ({report['device']}); "
          f"torch {report['torch_version']} (CUDA {report['torch_cuda_version']}), "
          f"jax {report['jax_version']}; "
          f"{report['total_wall_s']} s", file=err)
    rows = [("workload", "torch_eager med/min us", "torch_cuda_graph", "jax_jit",
             "first-step loss cpu/eager/graph/jax")]
    for name, r in report["results"].items():
        losses = r.get("loss_first_step")
        loss = "" if not losses else " / ".join(
            "-" if losses.get(k) is None else f"{losses[k]:.4f}"
            for k in ("torch_cpu",) + tuple(PEERS))
        rows.append((name, fmt(r.get("torch_eager")), fmt(r.get("torch_cuda_graph")),
                     fmt(r.get("jax_jit")), loss))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip(), file=err)
    for name, r in report["results"].items():
        for peer in PEERS:
            if r.get(peer) is None and r.get(peer + "_note") != "not requested":
                print(f"  {name} {peer}: {r.get(peer + '_note')}", file=err)
    for key in ("d2d_copy", "d2d_copy_large"):
        c = report.get(key)
        if c:
            print(f"{key} {c['bytes'] >> 20} MiB: {c['median_us']:.1f} us median, "
                  f"{c['gbps_median']:.1f} GB/s (best {c['gbps_best']:.1f})", file=err)
        else:
            print(f"{key}: - ({report.get('d2d_copy_note')})", file=err)
    for peer, c in report["children"].items():
        if c.get("status") != "ok":
            print(f"child {peer}: {c.get('status')} {c.get('note', '')}", file=err)


if __name__ == "__main__":
    main()
