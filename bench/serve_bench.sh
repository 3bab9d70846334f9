#!/usr/bin/env bash
# kiln serve's gRPC benchmark: the Fashion-MNIST MLP (784-512-512-10) as a bundle at batch sizes 1,
# 8, 32 and 128, served as "fashion" (each request on its own) and "fashion_batched" (dynamic
# batching, 500 µs), with bench/serve_bench.cc as the client on the same machine. Prints one JSON
# line. Run alone (the machine is noisy):
#
#   bench/serve_bench.sh [SECONDS_PER_THROUGHPUT_RUN (3)]
#   SERVER_CPUS=0 CLIENT_CPUS=1 bench/serve_bench.sh      # each pinned to its own core
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
bazel build --noshow_progress //serving:kiln //bench:serve_bench //tools:kilnc //examples/fashion_mnist:build_graphs >&2
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
bazel-bin/examples/fashion_mnist/build_graphs "$work" >/dev/null
mkdir -p "$work/repo/fashion/1" "$work/repo/fashion_batched/1"
bazel-bin/tools/kilnc compile "$work/mlp_infer.pb" --out "$work" --emit bundle --batch-sizes 1,8,32,128 >&2
cp "$work/mlp_infer.kiln" "$work/repo/fashion/1/model.kiln"
cp "$work/mlp_infer.kiln" "$work/repo/fashion_batched/1/model.kiln"
echo '{"dynamic_batching": {"max_queue_delay_microseconds": 500}}' > "$work/repo/fashion_batched/config.json"
OMP_NUM_THREADS=1 ${SERVER_CPUS:+taskset -c "$SERVER_CPUS"} bazel-bin/serving/kiln serve --model-repository "$work/repo" --http-port 0 \
  --grpc-port 0 --metrics-port -1 --threads 2 > "$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
  port=$(sed -n 's/^kiln serve: gRPC on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/serve.log")
  [[ -n $port ]] && grep -q "^kiln serve: serving" "$work/serve.log" && break
  sleep 0.1
done
OMP_NUM_THREADS=1 ${CLIENT_CPUS:+taskset -c "$CLIENT_CPUS"} bazel-bin/bench/serve_bench "$port" "$work/mlp_infer.kiln" "$seconds"
