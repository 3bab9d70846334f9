#!/usr/bin/env bash
# On a GPU machine (NVIDIA driver 525 or later; no Bazel, MLIR or CUDA toolkit needed): runs what
# test/gpu/build.sh built here. With gpu_bundle/ (steps 1-4):
#   1. every recorded case (each op of test/oracle/compiled_ops_test.cc, each training step of
#      test/oracle/compiled_training_test.cc, the benchmark workloads) against the interpreter's results,
#      with plain stream launches and again replayed from a CUDA graph;
#   2. the benchmarks W1 b128, W2, W3, W4a timed both ways (gpu_case_runner --bench-json);
#   3. the same workloads on PyTorch eager, PyTorch with a CUDA graph, and JAX (bench/gpu_peers.py);
#   4. the table (bench/gpu_table.py), naming the card;
# With gpu_train/ (step 5; the two do not fit one device call together):
#   5. Fashion-MNIST training on the GPU, MLP and CNN, 10 epochs each (the CPU reaches 88.99% and
#      91.22%, docs/training.md), and the classifier on the exported weights.
# Usage: test/gpu/run.sh [OUT_DIR]   (default /tmp/kiln-gpu; with the device tool, $OUT)
# From this machine, two device calls: carry ["gpu_bundle"], then carry ["gpu_train"], each with the
# command "test/gpu/run.sh $OUT".
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${1:-/tmp/kiln-gpu}
mkdir -p "$out"
nvidia-smi -L || { echo "test/gpu/run.sh: no GPU (nvidia-smi failed)"; exit 1; }
[ -x gpu_bundle/gpu_case_runner ] || [ -x gpu_train/fashion_mnist_cuda ] ||
  { echo "test/gpu/run.sh: no gpu_bundle/ or gpu_train/ (run test/gpu/build.sh first)"; exit 1; }
rc=0
# cuBLASLt (matmuls) and cuDNN (convolutions): the loader's, the toolkit's, or the copies PyTorch's
# wheels bring.
find_library() {  # find_library VAR SONAME_GLOB TOOLKIT_FILE
  if [ -z "${!1:-}" ] && ! ldconfig -p | grep -q "$2" && [ ! -e "/usr/local/cuda/lib64/$3" ]; then
    export "$1=$(find / -xdev -name "$3" 2>/dev/null | head -1)"
  fi
  echo "$1=${!1:-(the loader path or /usr/local/cuda)}"
}
find_library KILN_CUBLASLT 'libcublasLt.so.13 ' libcublasLt.so.13
find_library KILN_CUDNN 'libcudnn.so.9 ' libcudnn.so.9
if [ -x gpu_bundle/gpu_case_runner ]; then
  gunzip -f gpu_bundle/cases/*/data.bin.gz 2>/dev/null
  # A fault that breaks the GPU context ends the runner ("RESTART after NAME", exit 3): a fresh one
  # goes on after that case, so every case gets a context of its own kind.
  : > "$out/cases.log"
  after="" round=0 start=$SECONDS
  while :; do
    round=$((round + 1))
    timeout $((300 - (SECONDS - start))) gpu_bundle/gpu_case_runner --bench-json "$out/kiln_gpu.$round.json" \
      ${after:+--after "$after"} gpu_bundle/cases 2>&1 | tee -a "$out/cases.log"
    rc=${PIPESTATUS[0]}
    after=$(sed -n 's/^RESTART after \([^:]*\):.*/\1/p' "$out/cases.log" | tail -1)
    [[ $rc == 3 && $round -lt 50 && $((SECONDS - start)) -lt 290 ]] || break
  done
  [[ $rc == 3 ]] && rc=1
  echo "cases, all rounds: $(grep -c "^PASS" "$out/cases.log") passed, $(grep -c "^FAIL" "$out/cases.log") failed" | tee -a "$out/cases.log"
  python3 -c 'import json, sys
results = {}
for path in sys.argv[2:]:
    try:
        results.update(json.load(open(path))["results"])
    except (OSError, ValueError):
        pass
json.dump({"results": results}, open(sys.argv[1], "w"))' "$out/kiln_gpu.json" "$out"/kiln_gpu.[0-9]*.json
  PYTHONUNBUFFERED=1 timeout 240 python3 bench/gpu_peers.py --json "$out/peers_gpu.json" 2>&1 | tee "$out/peers.log"
  python3 bench/gpu_table.py "$out/kiln_gpu.json" "$out/peers_gpu.json" | tee "$out/table.md"
fi
if [ -x gpu_train/fashion_mnist_cuda ]; then
  for model in mlp cnn; do
    rm -rf "/tmp/kiln-gpu-$model"
    timeout 200 gpu_train/fashion_mnist_cuda --model $model --epochs 10 --data gpu_train/fashion-mnist \
      --logdir "/tmp/kiln-gpu-$model" > "$out/train_$model.log" 2>&1 || rc=1
    tail -3 "$out/train_$model.log"
    cp "/tmp/kiln-gpu-$model/log.csv" "$out/train_$model.csv" 2>/dev/null
    gpu_train/classify_cuda --model $model --weights "/tmp/kiln-gpu-$model/inference.kckpt" \
      --data gpu_train/fashion-mnist --index 0 || rc=1
  done
fi
echo "== summary"
[ -f "$out/cases.log" ] && grep -E "^FAIL|^RESTART|^cases, all rounds" "$out/cases.log"
for model in mlp cnn; do
  [ -f "$out/train_$model.csv" ] &&
    echo "$model: test accuracy after each epoch: $(cut -d, -f6 "$out/train_$model.csv" | tail -n +2 | tr '\n' ' ')"
done
exit $rc
