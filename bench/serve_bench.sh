#!/usr/bin/env bash
# The serving benchmark: kiln serve and a peer, MLServer with ONNX Runtime, side by side in one run
# on the Open Inference Protocol (gRPC, and HTTP with JSON bodies), with one client
# (bench/serve_bench.cc) on the same machine.
#
# kiln serve: the Fashion-MNIST MLP (784-512-512-10) as a bundle at batch sizes 1, 8, 32, 64, 128,
# served as "fashion" (each request on its own) and "fashion_batched" (dynamic batching, 500 µs).
# MLServer: the same architecture as ONNX (bench/serve_peer_model.py) in ONNX Runtime
# (bench/mlserver/onnx_runtime.py), as "fashion" and "fashion_batched" (adaptive batching up to
# 128, 500 µs). Prints one JSON line per server. Run alone (the machine is noisy):
#
#   bench/serve_bench.sh [SECONDS_PER_THROUGHPUT_RUN (3)]
#   SERVER_CPUS=0 CLIENT_CPUS=1 bench/serve_bench.sh      # servers and client each on own cores
#
# The peer needs a venv with mlserver and onnxruntime from PyPI (and uvloop < 0.22: MLServer
# 1.7.1's inference workers fail at start with 0.22); it is made at $BENCH_VENV
# (/opt/kiln-bench-venv) when missing. MLServer runs with parallel_workers 0 (inference in its
# main process; PEER_WORKERS=N for N worker processes), its faster setting here. PEER=0 runs kiln
# serve alone. BATCH_SIZES (1,8,32,64,128) and INSTANCES (1) set kiln serve's bundle and batcher.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
venv=${BENCH_VENV:-/opt/kiln-bench-venv}
peer=${PEER:-1}
bazel build --noshow_progress //serving:kiln //bench:serve_bench //tools:kilnc //examples/fashion_mnist:build_graphs >&2
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
pin() { [[ -n ${1:-} ]] && echo taskset -c "$1"; }
client() { OMP_NUM_THREADS=1 $(pin "${CLIENT_CPUS:-}") bazel-bin/bench/serve_bench "$1" "$2" "$work/mlp_infer.kiln" "$seconds"; }

bazel-bin/examples/fashion_mnist/build_graphs "$work" >/dev/null
mkdir -p "$work/repo/fashion/1" "$work/repo/fashion_batched/1"
bazel-bin/tools/kilnc compile "$work/mlp_infer.pb" --out "$work" --emit bundle --batch-sizes ${BATCH_SIZES:-1,8,32,64,128} >&2
cp "$work/mlp_infer.kiln" "$work/repo/fashion/1/model.kiln"
cp "$work/mlp_infer.kiln" "$work/repo/fashion_batched/1/model.kiln"
echo "{\"dynamic_batching\": {\"max_queue_delay_microseconds\": 500}, \"instances\": ${INSTANCES:-1}}" > "$work/repo/fashion_batched/config.json"
OMP_NUM_THREADS=1 $(pin "${SERVER_CPUS:-}") bazel-bin/serving/kiln serve --model-repository "$work/repo" --http-port 0 \
  --grpc-port 0 --metrics-port -1 --threads 2 > "$work/serve.log" 2>&1 &
pids+=($!)
port= http_port=
for _ in $(seq 100); do
  port=$(sed -n 's/^kiln serve: gRPC on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/serve.log")
  http_port=$(sed -n 's/^kiln serve: serving .* on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$work/serve.log")
  [[ -n $port && -n $http_port ]] && break
  sleep 0.1
done
echo -n '{"server": "kiln serve", '; client "$port" "$http_port" | sed 's/^{//'
kill "${pids[@]}"; wait 2>/dev/null || true; pids=()
[[ $peer == 1 ]] || exit 0

if ! "$venv/bin/python" -c "import mlserver, onnxruntime" 2>/dev/null; then
  echo "serve_bench: making $venv (mlserver, onnxruntime from PyPI)" >&2
  /usr/bin/python3 -m venv "$venv" && "$venv/bin/pip" install -q mlserver onnxruntime "uvloop<0.22" >&2
fi
/usr/bin/python3 bench/serve_peer_model.py "$work/mlp.onnx" 2>/dev/null
free_port() { /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
peer_port=$(free_port) peer_http_port=$(free_port)
mkdir -p "$work/peer"
cat > "$work/peer/settings.json" <<EOF
{"host": "127.0.0.1", "http_port": $peer_http_port, "grpc_port": $peer_port, "metrics_port": $(free_port),
 "load_models_at_startup": true, "parallel_workers": ${PEER_WORKERS:-0}}
EOF
for model in fashion fashion_batched; do
  mkdir -p "$work/peer/$model"
  cp bench/mlserver/onnx_runtime.py "$work/peer/$model/"
  batching=
  [[ $model == fashion_batched ]] && batching='"max_batch_size": 128, "max_batch_time": 0.0005,'
  cat > "$work/peer/$model/model-settings.json" <<EOF
{"name": "$model", "implementation": "onnx_runtime.OnnxRuntime", $batching
 "parameters": {"uri": "$work/mlp.onnx"}}
EOF
done
(cd "$work/peer" && OMP_NUM_THREADS=1 exec $(pin "${SERVER_CPUS:-}") "$venv/bin/mlserver" start . > "$work/peer.log" 2>&1) &
pids+=($!)
for _ in $(seq 300); do
  grep -q 'Loaded model .fashion_batched' "$work/peer.log" 2>/dev/null && break
  sleep 0.1
done
sleep 1
echo -n '{"server": "MLServer + ONNX Runtime", '; client "$peer_port" "$peer_http_port" | sed 's/^{//'
