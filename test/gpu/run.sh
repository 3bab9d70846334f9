#!/usr/bin/env bash
# On a GPU machine (NVIDIA driver 525 or later; no Bazel, MLIR or CUDA toolkit needed): runs what
# test/gpu/build.sh built here into gpu_bundle/, then the peers, and prints one summary table.
#   1. every recorded case (each op of passes/compiled_ops_test.cc, each training step of
#      passes/compiled_training_test.cc, the benchmark workloads) against the interpreter's results,
#      with plain stream launches and again replayed from a CUDA graph;
#   2. the benchmarks W1 b128, W2, W3, W4a timed both ways (gpu_case_runner --bench-json);
#   3. the same workloads on PyTorch eager, PyTorch with a CUDA graph, and JAX (bench/gpu_peers.py);
#   4. the table (bench/gpu_table.py), naming the card.
# Usage: test/gpu/run.sh [OUT_DIR]   (default /tmp/kiln-gpu; with the device tool, $OUT)
# From this machine: device run with carry ["gpu_bundle"] and command "test/gpu/run.sh $OUT".
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/kiln-gpu}
mkdir -p "$out"
nvidia-smi -L || { echo "test/gpu/run.sh: no GPU (nvidia-smi failed)"; exit 1; }
[ -x gpu_bundle/gpu_case_runner ] || { echo "test/gpu/run.sh: no gpu_bundle/ (run test/gpu/build.sh first)"; exit 1; }
# cuBLASLt for matmuls: the loader's, the toolkit's, or the copy PyTorch's wheels bring.
if [ -z "${KILN_CUBLASLT:-}" ] && ! ldconfig -p | grep -q 'libcublasLt.so.1[23] ' && \
   [ ! -e /usr/local/cuda/lib64/libcublasLt.so.13 ]; then
  KILN_CUBLASLT=$(find / -xdev -name 'libcublasLt.so.1[23]' 2>/dev/null | head -1)
  export KILN_CUBLASLT
fi
echo "cuBLASLt: ${KILN_CUBLASLT:-the loader path or /usr/local/cuda}"
timeout 300 gpu_bundle/gpu_case_runner --bench-json "$out/kiln_gpu.json" gpu_bundle/cases 2>&1 | tee "$out/cases.log"
rc=${PIPESTATUS[0]}
PYTHONUNBUFFERED=1 timeout 240 python3 bench/gpu_peers.py --json "$out/peers_gpu.json" 2>&1 | tee "$out/peers.log"
python3 bench/gpu_table.py "$out/kiln_gpu.json" "$out/peers_gpu.json" | tee "$out/table.md"
grep -E "^FAIL|passed, .* failed" "$out/cases.log"
exit $rc
