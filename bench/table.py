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


def kiln_times(path):
    """Median microseconds per run of each Kiln benchmark, and the ceilings' counters."""
    data = json.load(open(path))
    times, ceilings = {}, {}
    for b in data["benchmarks"]:
        if b.get("aggregate_name") != "median":
            continue
        name = b["run_name"].split("/")
        if name[0] == "kiln":
            times[name[1]] = b["us_per_run"]
        elif name[0] == "ceiling":
            ceilings["/".join(name[1:-1])] = b.get("GFLOP/s") or b.get("GB/s")
    return times, ceilings


def main():
    out = sys.argv[1]
    print("| workload | threads | Kiln µs | PyTorch µs | ONNX Runtime µs | PyTorch / Kiln | ORT / Kiln |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    ceilings = {}
    for threads in (1, 2):
        kiln, ceilings[threads] = kiln_times(f"{out}/kiln_t{threads}.json")
        peers = json.load(open(f"{out}/peers_t{threads}.json"))["results"]
        for key, name, desc in WORKLOADS:
            k = kiln.get(name)
            p = peers.get(key, {})
            torch = (p.get("torch") or {}).get("median_us")
            ort = (p.get("ort") or {}).get("median_us")
            ratio = lambda x: f"{x / k:.2f}" if x and k else "–"
            cell = lambda x: f"{x:.1f}" if x else "–"
            print(f"| {key} {desc} | {threads} | {cell(k)} | {cell(torch)} | {cell(ort)} | {ratio(torch)} | {ratio(ort)} |")
    print()
    print("| ceiling | 1 thread | 2 threads |")
    print("| --- | --- | --- |")
    for name in ceilings[1]:
        unit = "GB/s" if name.startswith("memcpy") else "GFLOP/s"
        print(f"| {name} ({unit}) | {ceilings[1][name]:.1f} | {ceilings[2].get(name, 0):.1f} |")


if __name__ == "__main__":
    main()
