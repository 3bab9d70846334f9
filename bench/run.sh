#!/usr/bin/env bash
# Kiln's CPU benchmarks against PyTorch and ONNX Runtime, 1 and 2 threads, in one run; prints the
# markdown table of docs/performance.md. Run it on an idle machine (check /proc/loadavg): the peers'
# OpenMP threads spin and collapse when another process competes for the cores.
# Usage: bench/run.sh [OUT_DIR]     (ONNX Runtime comes from a venv it makes in /tmp/kiln-bench-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/kiln-bench}
venv=/tmp/kiln-bench-venv
mkdir -p "$out"
bazel build //bench:kiln_bench >/dev/null 2>&1 || bazel build //bench:kiln_bench
if ! "$venv/bin/python" -c "import onnxruntime" 2>/dev/null; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q onnxruntime
fi
echo "load before: $(cat /proc/loadavg)" >&2
for t in 1 2; do
  OMP_NUM_THREADS=$t bazel-bin/bench/kiln_bench --benchmark_min_time=0.5 --benchmark_repetitions=3 \
    --benchmark_report_aggregates_only=true --benchmark_format=json > "$out/kiln_t$t.json"
  "$venv/bin/python" bench/peers.py --threads "$t" --min-time 1.0 --json "$out/peers_t$t.json"
done
echo "load after: $(cat /proc/loadavg)" >&2
/usr/bin/python3 bench/table.py "$out"
