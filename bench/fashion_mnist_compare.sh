#!/usr/bin/env bash
# Kiln's Fashion-MNIST trainer against PyTorch with the same models, optimizers, batch sizes and
# epochs, on this machine, one after the other, 2 threads each (OMP_NUM_THREADS for oneDNN and
# OpenBLAS, torch.set_num_threads for PyTorch). Prints per-epoch test accuracy and training wall time
# side by side (the table in docs/training.md).
# Usage: bench/fashion_mnist_compare.sh [mlp|cnn|both] [EPOCHS] [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
models=${1:-both} epochs=${2:-10} out=${3:-/tmp/kiln_fashion_compare}
[[ $models == both ]] && models="mlp cnn"
export OMP_NUM_THREADS=2
bazel build //examples/fashion_mnist:fashion_mnist >/dev/null 2>&1 || bazel build //examples/fashion_mnist:fashion_mnist
mkdir -p "$out"
for m in $models; do
  rm -rf "$out/kiln_$m"
  bazel-bin/examples/fashion_mnist/fashion_mnist --model "$m" --epochs "$epochs" --logdir "$out/kiln_$m" > "$out/kiln_$m.log"
  /usr/bin/python3 bench/fashion_mnist_torch.py --model "$m" --epochs "$epochs" --threads 2 \
    --csv "$out/torch_$m.csv" > "$out/torch_$m.log"
  /usr/bin/python3 - "$m" "$out/kiln_$m/log.csv" "$out/torch_$m.csv" <<'PY'
import csv, sys
model, kiln_path, torch_path = sys.argv[1:]
kiln = list(csv.DictReader(open(kiln_path)))
torch = list(csv.DictReader(open(torch_path)))
print(f"\n{model.upper()}: test accuracy and training seconds per epoch (2 threads)\n")
print("| epoch | Kiln accuracy | PyTorch accuracy | Kiln s | PyTorch s | PyTorch s / Kiln s |")
print("| --- | --- | --- | --- | --- | --- |")
for k, t in zip(kiln, torch):
    ks, ts = float(k["train_seconds"]), float(t["train_seconds"])
    print(f"| {k['epoch']} | {float(k['test_accuracy']):.4f} | {float(t['test_accuracy']):.4f} | "
          f"{ks:.1f} | {ts:.1f} | {ts / ks:.2f} |")
PY
done
