#!/usr/bin/python3
"""Turns Kiln's GPU runner JSON and bench/gpu_peers.py's JSON into the markdown table of
docs/performance.md.

Usage:

  python3 bench/gpu_table.py KILN_JSON PEERS_JSON > table.md

KILN_JSON (the C++ GPU runner): {"device": "NVIDIA H200", "results": {"W1b128": {"kiln_us": 12.3,
"kiln_graph_us": 9.1}, "W2": {...}, ...}}: per-call median microseconds with plain stream launches
(kiln_us) and with CUDA-graph replay (kiln_graph_us); either may be null or missing. PEERS_JSON:
gpu_peers.py's output (median_us of torch_eager, torch_cuda_graph and jax_jit per workload, the
d2d_copy ceiling, the card's name). Missing values print as "—". The ratio column is the fastest
peer's median over the faster of Kiln's two medians (> 1: Kiln is faster), with that peer named.
For W4a a line gives Kiln's bandwidth (x read and y written, 16 MiB each, plus a and b, 4 KiB each)
as a share of the 16 MiB device-to-device copy's (dst.copy_(src), read + write counted).
"""

import json
import sys

WORKLOADS = [
    ("W1b128", "MLP 784-512-512-10 inference, batch 128"),
    ("W2", "MLP training step (SGD), batch 128"),
    ("W3", "CNN training step (SGD), batch 64"),
    ("W4a", "gelu(x*a+b), 4096x1024"),
]
PEERS = [("torch_eager", "torch eager"), ("torch_cuda_graph", "torch CUDA graph"),
         ("jax_jit", "JAX jit")]
W4A_BYTES = 2 * 4096 * 1024 * 4 + 2 * 1024 * 4  # x read + y written + a, b read
DASH = "—"


def number(v):
    """A positive float from a JSON value (a number, or a dict with median_us), else None."""
    if isinstance(v, dict):
        v = v.get("median_us")
    if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
        return float(v)
    return None


def kiln_best(k):
    """Kiln's better median of stream launches and CUDA-graph replay (None if neither)."""
    return min((v for v in (number(k.get("kiln_us")), number(k.get("kiln_graph_us"))) if v), default=None)


def size(nbytes):
    return f"{nbytes / 2**30:g} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:g} MiB"


def us(v):
    if v is None:
        return DASH
    return f"{v:.2f}" if v < 10 else f"{v:.1f}"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: python3 bench/gpu_table.py KILN_JSON PEERS_JSON")
    kiln = json.load(open(sys.argv[1]))
    peers = json.load(open(sys.argv[2]))
    kres, pres = kiln.get("results") or {}, peers.get("results") or {}

    kcard = kiln.get("device")
    card = peers.get("device_name") or kcard or DASH
    versions = [f"PyTorch {peers['torch_version']}" if peers.get("torch_version") else None,
                f"CUDA {peers['torch_cuda_version']}" if peers.get("torch_cuda_version") else None,
                f"JAX {peers['jax_version']}" if peers.get("jax_version") else None]
    tf32 = (peers.get("settings") or {}).get("tf32")
    line = f"GPU: **{card}** (peers: {', '.join(v for v in versions if v) or DASH}"
    line += "; TF32 allowed)" if tf32 else "; float32, TF32 off)"
    if kcard and peers.get("device_name") and kcard != card:
        line += f". **Warning:** Kiln's JSON names a different card: {kcard}"
        print(f"gpu_table: warning: Kiln ran on {kcard!r}, the peers on {card!r}", file=sys.stderr)
    print(line + ".")
    print()
    print("| workload | description | Kiln (stream) µs | Kiln (CUDA graph) µs | torch eager µs "
          "| torch CUDA graph µs | JAX jit µs | best peer / Kiln best |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    known = [w for w, _ in WORKLOADS]
    rows = WORKLOADS + [(w, (pres.get(w) or {}).get("desc", "")) for w in
                        list(kres) + list(pres) if w not in known]
    seen = []
    for name, desc in rows:
        if name in seen or (name not in kres and name not in pres):
            continue
        seen.append(name)
        k = kres.get(name) or {}
        p = pres.get(name) or {}
        k_stream, k_graph = number(k.get("kiln_us")), number(k.get("kiln_graph_us"))
        peer_us = [(label, number(p.get(key))) for key, label in PEERS]
        k_best = kiln_best(k)
        best = min(((v, label) for label, v in peer_us if v), default=None)
        ratio = f"{best[0] / k_best:.2f} ({best[1]})" if best and k_best else DASH
        cells = [name, desc, us(k_stream), us(k_graph)] + [us(v) for _, v in peer_us] + [ratio]
        print("| " + " | ".join(cells) + " |")
    print()

    # W4a against the device-to-device copy.
    k = kres.get("W4a") or {}
    k_best = kiln_best(k)
    copy = peers.get("d2d_copy") or {}
    large = peers.get("d2d_copy_large") or {}
    copy_gbps = copy.get("gbps_median")
    if "W4a" in kres or "W4a" in pres:
        gbps = W4A_BYTES / (k_best * 1e3) if k_best else None
        text = (f"W4a: Kiln's best {us(k_best)} µs moves {W4A_BYTES / 1e6:.1f} MB (x read, y "
                f"written, a and b read): {f'{gbps:.0f}' if gbps else DASH} GB/s, "
                f"{f'{100 * gbps / copy_gbps:.0f}%' if gbps and copy_gbps else DASH} of the 16 MiB "
                f"device-to-device copy's {f'{copy_gbps:.0f}' if copy_gbps else DASH} GB/s "
                "(`dst.copy_(src)` in PyTorch, read + write counted, median")
        if large.get("gbps_median"):
            text += (f"; its 32 MiB of source and destination may partly stay in an H100/H200's "
                     f"50 MB L2, as may W4a's; a {size(large['bytes'])} copy cannot: "
                     f"{large['gbps_median']:.0f} GB/s")
        print(text + ").")

    # Sanity: first-step losses of the training steps (all should agree).
    losses = []
    for name, _ in WORKLOADS:
        lf = (pres.get(name) or {}).get("loss_first_step")
        if lf:
            losses.append(f"{name} " + ", ".join(f"{key} {v:.4f}" for key, v in lf.items()
                                                 if v is not None))
    if losses:
        print()
        print("First-step losses (sanity): " + "; ".join(losses) + ".")
    notes = []
    for name in seen:
        p = pres.get(name) or {}
        for key, label in PEERS:
            note = p.get(key + "_note")
            if p.get(key) is None and note and note != "not requested":
                notes.append(f"{name} {label}: {note}")
    for n in notes:
        print(f"gpu_table: missing peer value: {n}", file=sys.stderr)


if __name__ == "__main__":
    main()
