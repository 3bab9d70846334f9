#!/usr/bin/python3
"""Times Kiln's CPU benchmark workloads on its peers, PyTorch (eager) and ONNX Runtime.

Kiln's C++ side times the same workloads; a driver script combines both outputs into a table. This
script only measures the peers, at one thread count, and prints JSON (stdout, or --json FILE) plus a
short human-readable table on stderr.

Usage:

  VENV/bin/python bench/peers.py --threads N [--workloads W1b1,W1b128,W2,W3,W4a,W4b,W5] \
      [--min-time 1.0] [--warmup-time 0.3] [--json out.json] [--seed 0] [--opset 14] \
      [--ort-api run|iobinding]

Environment. Debian's /usr/bin/python3 (3.11) has python3-torch (1.13, CPU) and numpy, but not
ONNX Runtime. This script installs nothing; make a venv that sees the system packages and add
onnxruntime to it once:

  /usr/bin/python3 -m venv --system-site-packages VENV
  VENV/bin/pip install onnxruntime

(torch 1.13's torch.onnx.export writes the model itself; the `onnx` package is not needed.) Without
onnxruntime (e.g. under plain /usr/bin/python3) the script still runs: every "ort" result is null
and "ort_note" says why.

Threads. Before anything is created: OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and MKL_NUM_THREADS are
set to N in the environment (if they were not already N the script re-executes itself with them
set, so that the OpenMP runtime and OpenBLAS read them at load time), then torch.set_num_threads(N)
and torch.set_num_interop_threads(1). ONNX Runtime sessions get intra_op_num_threads=N,
inter_op_num_threads=1, ORT_SEQUENTIAL execution and ORT_ENABLE_ALL graph optimizations, CPU
execution provider only (its default spin-waiting of pool threads is left on). Each ORT session is
freed once its workload is measured, so its threads do not compete with later measurements.

Workloads (float32; weights from torch's generator seeded with --seed: Glorot/Xavier-uniform
weights and zero biases for every Linear and Conv2d; inputs uniform [0,1) or normal as noted; all
inputs are created once, outside the timed region):
  W1b1, W1b128  MLP Linear(784,512) ReLU Linear(512,512) ReLU Linear(512,10), inference at batch 1
                and 128, x ~ U[0,1). torch: the nn.Sequential under torch.inference_mode. ORT: the
                same module exported by torch.onnx.export (static shapes, one model per batch).
  W2            that MLP's training step at batch 128 (integer labels): zero_grad(set_to_none=True),
                forward, mean softmax cross-entropy (F.cross_entropy), backward, optimizer.step()
                of torch.optim.SGD(lr=0.01). PyTorch only (ORT: null, "inference only").
  W3            the CNN training step at batch 64, NCHW here (Kiln's is NHWC): Conv2d(1,32,3,pad 1)
                ReLU MaxPool2d(2) Conv2d(32,64,3,pad 1) ReLU MaxPool2d(2) Flatten Linear(3136,128)
                ReLU Linear(128,10), same loss and step as W2 with SGD lr 0.1. PyTorch only.
  W4a           y = gelu(x * a + b), exact (erf) GELU, x [4096,1024] ~ N(0,1), a and b [1024] per
                column ~ N(0,1). torch: F.gelu(x * a + b) under inference_mode. ORT: exported with
                x, a and b as graph inputs, like Kiln's placeholders (ONNX has no Gelu op before
                opset 20: the export is Erf arithmetic, which ORT's optimizer fuses; see
                "ort_ops").
  W4b           layer norm over the last axis of x [4096,1024] ~ N(0,1), gamma ~ U[0.5,1.5) and
                beta ~ U[-0.5,0.5) [1024], eps 1e-5. torch: F.layer_norm. ORT: exported with x, gamma
                and beta as graph inputs (opset < 17 writes the decomposed mean/variance ops,
                which ORT may fuse into LayerNormalization; see "ort_ops").
  W5            one nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024,
                dropout=0, activation=relu, batch_first=True, norm_first=False) in eval mode,
                inference on x [8,128,256] ~ N(0,1). "torch": the module under inference_mode, which
                in torch >= 1.12 takes its fused "fast path" (aten::_transformer_encoder_layer_fwd;
                "torch_note" says whether the profiler saw it). "torch_slow_path": the same layer's
                non-fast-path math written out under inference_mode (F.multi_head_attention_forward,
                then norm1(x + attn), norm2(h + linear2(relu(linear1(h))))), i.e. what the module
                computes when the fast path does not apply. ORT: the module exported by
                torch.onnx.export (tracing records the composite ops).
  The ORT outputs are compared with torch's ("ort_max_abs_diff"), and so is W5's slow path.

Timing. torch on CPU is synchronous, so a call's wall time is its cost. For each measured function:
warm-up calls until at least 10 calls and --warmup-time seconds (default 0.3); then timed batches
of k back-to-back calls (k chosen from the warm-up so a batch takes about 1 ms, at least 1) until the
timed batches add up to --min-time seconds (default 1.0) and at least 10 calls. Each batch gives
one per-run sample (batch time / k); the result is the median and the minimum of those samples in
microseconds, the total call count ("runs"), the sample count and k ("batch"). The garbage
collector is off during timing. The training steps (W2, W3) are timed whole (zero_grad, forward,
loss, backward, step); before each timed batch, outside the timed region, the parameters are reset
to their initial values so every timed step does the same work on the same weights (the final loss
is reported as a sanity check). Timings come from Python, so they include the interpreter's and the
framework's per-call overhead (noticeable at W1b1); ORT's default --ort-api run uses
InferenceSession.run with numpy inputs (outputs allocated per call), --ort-api iobinding binds
preallocated input and output OrtValues (run_with_iobinding), closer to a C++ caller.
Other load on the machine inflates the medians first (the minimum is more robust), and most when N
equals the core count, where a descheduled OpenMP or ORT pool thread stalls every parallel region;
the 1-minute load average at start and end is recorded for that reason.

Output JSON:
  {"threads": N, "torch_version": ..., "torch_num_threads": ..., "ort_version": ... | null,
   "blas": {"torch_config": "BLAS_INFO=..., ...", "loaded": [libraries mapped in /proc/self/maps
            after the first matmul, symlinks resolved]},
   "settings": {...}, "loadavg_start": [1, 5, 15 min], "loadavg_end": [...],
   "results": {"W1b1": {"desc": ..., "torch": {"median_us", "min_us", "runs", "samples", "batch"},
                        "ort": {...} | null, "ort_note": "...", ...}, ...}}
Debian's torch links libblas.so.3 (whatever update-alternatives selects, here OpenBLAS) for
matrix products; its convolutions go through oneDNN. ONNX Runtime uses its own MLAS kernels.
"""

import argparse
import json
import os
import sys

WORKLOADS = ["W1b1", "W1b128", "W2", "W3", "W4a", "W4b", "W5"]
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, required=True, help="intra-op threads for both peers")
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of " + ",".join(WORKLOADS) + " (default: all)")
    p.add_argument("--min-time", type=float, default=1.0,
                   help="seconds of timed batches per measurement (default 1.0)")
    p.add_argument("--warmup-time", type=float, default=0.3,
                   help="minimum warm-up seconds per measurement (default 0.3)")
    p.add_argument("--json", metavar="FILE", help="write the JSON here instead of stdout")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")
    p.add_argument("--opset", type=int, default=14, help="ONNX opset for export (default 14)")
    p.add_argument("--ort-api", choices=("run", "iobinding"), default="run",
                   help="how ORT is called (default run)")
    args = p.parse_args()
    if args.threads < 1:
        p.error("--threads must be >= 1")
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown or not names:
        p.error(f"unknown workload(s) {unknown}; choose from {','.join(WORKLOADS)}")
    args.workloads = [w for w in WORKLOADS if w in names]  # canonical order, no duplicates
    if args.min_time <= 0 or args.warmup_time < 0:
        p.error("--min-time must be > 0 and --warmup-time >= 0")
    return args


ARGS = parse_args()

# The OpenMP runtime and OpenBLAS read their thread counts when they are loaded, i.e. when torch is
# imported; set the environment first, re-executing so the settings hold from process start.
if any(os.environ.get(k) != str(ARGS.threads) for k in THREAD_ENV):
    if os.environ.get("KILN_PEERS_REEXEC") == "1":
        sys.exit("peers.py: thread environment variables did not survive re-exec")
    for k in THREAD_ENV:
        os.environ[k] = str(ARGS.threads)
    os.environ["KILN_PEERS_REEXEC"] = "1"
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable] + sys.argv)

import gc  # noqa: E402
import io  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_blas import blas_config_lines, mapped_blas_libraries  # noqa: E402
import timing  # noqa: E402
import torch_models  # noqa: E402
from torch_models import glorot_  # noqa: E402

torch.set_num_threads(ARGS.threads)
torch.set_num_interop_threads(1)

try:
    import onnxruntime as ort  # noqa: E402
    ORT_MISSING = None
except Exception as e:  # ImportError, or a broken install
    ort = None
    ORT_MISSING = (f"onnxruntime not importable ({type(e).__name__}: {e}); run under a venv made "
                   "with `/usr/bin/python3 -m venv --system-site-packages VENV && "
                   "VENV/bin/pip install onnxruntime`")


# ------------------------------------------------------------------------------------- timing


def measure(fn, reset=None, min_time=None, warmup_time=None):
    """Median/min per-call microseconds of fn(); see the module docstring for the procedure."""
    return timing.measure(fn, ARGS.min_time if min_time is None else min_time,
                          ARGS.warmup_time if warmup_time is None else warmup_time, reset=reset)


# ------------------------------------------------------------------------------------- models


class LayerNorm(nn.Module):
    def forward(self, x, gamma, beta):
        return F.layer_norm(x, (x.shape[-1],), gamma, beta, 1e-5)


def encoder_layer_slow_path(layer, x):
    """TransformerEncoderLayer's non-fast-path forward (post-norm, eval, no masks), spelled out."""
    sa = layer.self_attn
    q = x.transpose(0, 1)  # what MultiheadAttention does for batch_first
    attn, _ = F.multi_head_attention_forward(
        q, q, q, sa.embed_dim, sa.num_heads, sa.in_proj_weight, sa.in_proj_bias, None, None, False,
        0.0, sa.out_proj.weight, sa.out_proj.bias, training=False, key_padding_mask=None,
        need_weights=False, attn_mask=None)
    h = layer.norm1(x + attn.transpose(0, 1))
    return layer.norm2(h + layer.linear2(layer.activation(layer.linear1(h))))


# ------------------------------------------------------------------------------ onnx runtime


def export_onnx(module, inputs, input_names):
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, tuple(inputs), buf, opset_version=ARGS.opset,
                          input_names=list(input_names), output_names=["y"],
                          do_constant_folding=True)
    return buf.getvalue()


def ort_session_options(profile_prefix=None):
    so = ort.SessionOptions()
    so.intra_op_num_threads = ARGS.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if profile_prefix is not None:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    return so


def ort_kernels(model_bytes, feeds):
    """Op types ORT executed for one run of the optimized graph, from its profiler, in order."""
    with tempfile.TemporaryDirectory() as tmp:
        sess = ort.InferenceSession(model_bytes, ort_session_options(os.path.join(tmp, "prof")),
                                    providers=["CPUExecutionProvider"])
        sess.run(None, feeds)
        path = sess.end_profiling()
        del sess
        with open(path) as f:
            events = json.load(f)
    ops = []
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            ops.append(e.get("args", {}).get("op_name", "?"))
    return ops


def summarize_ops(ops):
    counts = {}
    for op in ops:
        counts[op] = counts.get(op, 0) + 1
    return ", ".join(f"{op}x{n}" if n > 1 else op for op, n in counts.items())


def measure_ort_session(model, feeds, reference, extras):
    """Times one ORT session of model; the session lives only inside this call."""
    sess = ort.InferenceSession(model, ort_session_options(), providers=["CPUExecutionProvider"])
    if ARGS.ort_api == "iobinding":
        binding = sess.io_binding()
        in_values = {n: ort.OrtValue.ortvalue_from_numpy(a) for n, a in feeds.items()}
        for n, v in in_values.items():
            binding.bind_ortvalue_input(n, v)
        out = ort.OrtValue.ortvalue_from_shape_and_type(list(reference.shape), np.float32)
        binding.bind_ortvalue_output(sess.get_outputs()[0].name, out)

        def fn():
            sess.run_with_iobinding(binding)

        fn()
        got = out.numpy()
    else:
        def fn():
            return sess.run(None, feeds)

        got = fn()[0]
    extras["ort_max_abs_diff"] = float(np.abs(got - reference.numpy()).max())
    return measure(fn)


def time_ort(module, inputs, input_names, reference):
    """(result or None, note, extras) for an exported module on ORT."""
    if ort is None:
        return None, ORT_MISSING, {}
    try:
        model = export_onnx(module, inputs, input_names)
    except Exception as e:
        return None, f"torch.onnx.export failed: {type(e).__name__}: {e}"[:500], {}
    feeds = {n: np.ascontiguousarray(t.detach().numpy()) for n, t in zip(input_names, inputs)}
    extras = {}
    try:
        extras["ort_ops"] = summarize_ops(ort_kernels(model, feeds))
    except Exception as e:
        extras["ort_ops"] = f"(profiling failed: {type(e).__name__}: {e})"
    try:
        result = measure_ort_session(model, feeds, reference, extras)
    except Exception as e:
        return None, f"ORT failed: {type(e).__name__}: {e}"[:500], extras
    finally:
        gc.collect()  # the session (and its thread pool) is gone once measure_ort_session returns
    api = "run_with_iobinding" if ARGS.ort_api == "iobinding" else "run"
    note = f"opset {ARGS.opset}, InferenceSession.{api}"
    return result, note, extras


# ---------------------------------------------------------------------------------- workloads


def generator(offset):
    return torch_models.generator(ARGS.seed, offset)


def inference_workload(module, inputs, input_names):
    module.eval()
    with torch.inference_mode():
        reference = module(*inputs)
        res = {"torch": measure(lambda: module(*inputs))}
    ort_res, note, extras = time_ort(module, inputs, input_names, reference)
    res["ort"] = ort_res
    res["ort_note"] = note
    res.update(extras)
    return res


def training_workload(model, x, y, lr):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    params = list(model.parameters())
    initial = [p.detach().clone() for p in params]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    def reset():
        with torch.no_grad():
            for p, p0 in zip(params, initial):
                p.copy_(p0)

    first_loss = float(step().detach())
    reset()
    result = measure(step, reset=reset)
    last_loss = float(step().detach())
    return {"torch": result, "ort": None, "ort_note": "inference only",
            "loss_first_step": round(first_loss, 6), "loss_after_timing": round(last_loss, 6)}


def run_workload(name):
    torch.manual_seed(ARGS.seed)
    if name in ("W1b1", "W1b128", "W2", "W3", "W4a"):
        kind, module, inputs = torch_models.workload(name, ARGS.seed)
        if kind == "infer":
            res = inference_workload(module, inputs, ["x", "a", "b"][:len(inputs)])
        else:
            res = training_workload(module, *inputs, 0.01 if name == "W2" else 0.1)
        res["desc"] = {"W1b1": "MLP 784-512-512-10 inference, batch 1",
                       "W1b128": "MLP 784-512-512-10 inference, batch 128",
                       "W2": "MLP training step, batch 128, SGD lr 0.01",
                       "W3": "CNN training step, batch 64 (NCHW), SGD lr 0.1",
                       "W4a": "gelu_erf(x*a+b), x [4096,1024]"}[name]
    elif name == "W4b":
        g = generator(7)
        x = torch.randn(4096, 1024, generator=g)
        gamma = torch.rand(1024, generator=g) + 0.5
        beta = torch.rand(1024, generator=g) - 0.5
        res = inference_workload(LayerNorm(), [x, gamma, beta], ["x", "gamma", "beta"])
        res["desc"] = "layernorm last axis, x [4096,1024], eps 1e-5"
    elif name == "W5":
        layer = nn.TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=1024, dropout=0.0,
                                           activation="relu", batch_first=True, norm_first=False)
        glorot_(layer)  # the Linear layers; MHA's in_proj is Xavier-uniform already
        layer.eval()
        x = torch.randn(8, 128, 256, generator=generator(8))
        with torch.inference_mode():
            with torch.autograd.profiler.profile() as prof:
                fast_out = layer(x)
            names = {e.name for e in prof.function_events}
            fast = "aten::_transformer_encoder_layer_fwd" in names
            slow_out = encoder_layer_slow_path(layer, x)
            slow = measure(lambda: encoder_layer_slow_path(layer, x))
        res = inference_workload(layer, [x], ["x"])
        res["torch_note"] = ("module under inference_mode; fast path taken "
                             "(aten::_transformer_encoder_layer_fwd)" if fast else
                             "module under inference_mode; fast path NOT taken")
        res["torch_slow_path"] = slow
        res["torch_slow_path_max_abs_diff"] = float((slow_out - fast_out).abs().max())
        res["desc"] = "TransformerEncoderLayer d256 h4 ffn1024 post-norm relu, x [8,128,256]"
    else:
        raise ValueError(name)
    return res


# ---------------------------------------------------------------------------------- reporting


def fmt(r):
    if r is None:
        return "-"
    return f"{r['median_us']:.1f} / {r['min_us']:.1f} ({r['runs']})"


def print_table(report):
    rows = [("workload", "torch med/min us (runs)", "torch slow path", "ort med/min us (runs)",
             "note")]
    for name, r in report["results"].items():
        note = r.get("ort_note", "") if r.get("ort") is None else ""
        if "error" in r:
            note = r["error"]
        rows.append((name, fmt(r.get("torch")), fmt(r.get("torch_slow_path")) if
                     "torch_slow_path" in r else "", fmt(r.get("ort")), note[:60]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    err = sys.stderr
    print(f"peers: threads={report['threads']} torch {report['torch_version']} "
          f"(num_threads {report['torch_num_threads']}), onnxruntime {report['ort_version']}; "
          f"1-min load average {report['loadavg_start'][0]:.2f} at start, "
          f"{report['loadavg_end'][0]:.2f} at end", file=err)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4], file=err)
    cores = os.cpu_count() or 1
    before = report["loadavg_start"][0]  # mostly other processes (the end value counts ours)
    if before + report["threads"] > cores + 1.0:
        print(f"peers: warning: load average {before:.2f} at start on {cores} cores with "
              f"{report['threads']} thread(s): other processes were likely competing for the "
              "cores; medians (multi-threaded ones most) may be inflated", file=err)


def main():
    # First matmul before reading /proc/self/maps, so a lazily loaded BLAS shows up.
    torch.ones(64, 64) @ torch.ones(64, 64)
    report = {
        "threads": ARGS.threads,
        "torch_version": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "ort_version": ort.__version__ if ort is not None else None,
        "blas": {"torch_config": "; ".join(blas_config_lines()), "loaded": mapped_blas_libraries()},
        "settings": {"min_time_s": ARGS.min_time, "warmup_time_s": ARGS.warmup_time,
                     "seed": ARGS.seed, "opset": ARGS.opset, "ort_api": ARGS.ort_api,
                     "env": {k: os.environ.get(k) for k in THREAD_ENV},
                     "python": sys.version.split()[0]},
        "loadavg_start": list(os.getloadavg()),
        "results": {},
    }
    for name in ARGS.workloads:
        print(f"peers: {name} ...", file=sys.stderr, flush=True)
        try:
            report["results"][name] = run_workload(name)
        except Exception as e:  # keep the other workloads' numbers
            report["results"][name] = {"torch": None, "ort": None,
                                       "error": f"{type(e).__name__}: {e}"[:500]}
        gc.collect()
    report["loadavg_end"] = list(os.getloadavg())
    text = json.dumps(report, indent=2)
    if ARGS.json:
        with open(ARGS.json, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    print_table(report)


if __name__ == "__main__":
    main()
