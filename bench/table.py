"""Turns bench/run.sh's JSON files into the markdown table of docs/performance.md."""
import json
import sys

WORKLOADS = [
    ("W1b1", "w1b1_mlp_infer", "MLP 784-512-512-10 inference, batch 1"),
    ("W1b128", "w1b128_mlp_infer", "MLP inference, batch 128"),
    ("W2", "w2_mlp_train_sgd_b128", "MLP training step (SGD), batch 128"),
    ("W3", "w3_cnn_train_sgd_b64", "CNN training step (SGD), batch 64"),
    ("W4a", "w4a_gelu_affine", "gelu(x*a+b), 4096x1024"),
    ("W4b", "w4b_layernorm", "layernorm, 4096x1024"),
    ("W5", "w5_encoder_layer", "transformer encoder layer, 8x128x256"),
]


# What each workload is measured against: FLOPs for the sgemm ceiling, bytes moved for memcpy's.
MLP_FLOPS = 2.0 * 128 * (784 * 512 + 512 * 512 + 512 * 10)
W4_BYTES = 8.0 * 4096 * 1024
CEILING_OF = {
    "w1b128_mlp_infer": ("dnnl_sgemm/M:128/K:784/N:512", MLP_FLOPS / 1e3, "GFLOP/s"),
    "w4a_gelu_affine": ("memcpy/bytes:16777216", W4_BYTES / 1e3, "GB/s"),
    "w4b_layernorm": ("memcpy/bytes:16777216", W4_BYTES / 1e3, "GB/s"),
}


def kiln_times(path):
    """Median microseconds per run of each Kiln benchmark (by kind: kiln, portable), and the
    ceilings' counters."""
    data = json.load(open(path))
    times, ceilings = {"kiln": {}, "portable": {}}, {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name = b["run_name"].split("/")
        if name[0] in times:
            times[name[0]][name[1]] = b["us_per_run"]
        elif name[0] == "ceiling":
            ceilings["/".join(name[1:-1])] = b.get("GFLOP/s") or b.get("GB/s")
    return times, ceilings


def of_ceiling(name, us, ceilings):
    """"203 of 212 GFLOP/s, 96%" for workloads with a ceiling, else "–"."""
    if name not in CEILING_OF or not us:
        return "–"
    key, work, unit = CEILING_OF[name]
    ceiling = next((v for k, v in ceilings.items() if k.startswith(key)), None)
    if not ceiling:
        return "–"
    rate = work / us  # GFLOP/s or GB/s: work is in units of 1e3 per microsecond
    return f"{rate:.1f} of {ceiling:.1f} {unit}, {100 * rate / ceiling:.0f}%"


def main():
    out = sys.argv[1]
    print("| workload | threads | Kiln µs | PyTorch µs | ONNX Runtime µs | PyTorch / Kiln | ORT / Kiln "
          "| Kiln vs ceiling |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ceilings, times = {}, {}
    cell = lambda x: f"{x:.1f}" if x else "–"
    for threads in (1, 2):
        times[threads], ceilings[threads] = kiln_times(f"{out}/kiln_t{threads}.json")
        kiln = times[threads]["kiln"]
        peers = json.load(open(f"{out}/peers_t{threads}.json"))["results"]
        for key, name, desc in WORKLOADS:
            k = kiln.get(name)
            p = peers.get(key, {})
            torch = (p.get("torch") or {}).get("median_us")
            ort = (p.get("ort") or {}).get("median_us")
            ratio = lambda x: f"{x / k:.2f}" if x and k else "–"
            print(f"| {key} {desc} | {threads} | {cell(k)} | {cell(torch)} | {cell(ort)} | {ratio(torch)} "
                  f"| {ratio(ort)} | {of_ceiling(name, k, ceilings[threads])} |")
    print()
    print("| portable path (no oneDNN) | threads | portable µs | with oneDNN µs | portable / with oneDNN |")
    print("| --- | --- | --- | --- | --- |")
    for threads in (1, 2):
        for key, name, desc in WORKLOADS:
            portable = times[threads]["portable"].get(name)
            if not portable:
                continue
            k = times[threads]["kiln"].get(name)
            slower = f"{portable / k:.1f}x" if k else "–"
            print(f"| {key} {desc} | {threads} | {cell(portable)} | {cell(k)} | {slower} |")
    print()
    print("| ceiling | 1 thread | 2 threads |")
    print("| --- | --- | --- |")
    for name in ceilings[1]:
        unit = "GB/s" if name.startswith("memcpy") else "GFLOP/s"
        print(f"| {name} ({unit}) | {ceilings[1][name]:.1f} | {ceilings[2].get(name, 0):.1f} |")


if __name__ == "__main__":
    main()
