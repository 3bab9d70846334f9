#!/bin/bash
# kiln serve under load and faults (load_client.py), on a free loopback port; then SIGTERM.
set -uo pipefail
kiln=$1 bundle=$2 inputs=$3 expected=$4 client=$5
dir="${TEST_TMPDIR:-$(mktemp -d)}"
mkdir -p "$dir/repo/tiny/1"
cp "$bundle" "$dir/repo/tiny/1/model.kiln"
"$kiln" serve --model-repository "$dir/repo" --http-port 0 --metrics-port -1 --grpc-port -1 --threads 4 \
  --connection-timeout 2 >"$dir/serve.log" 2>&1 &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/^kiln serve: serving .* on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$dir/serve.log")
  [[ -n $port ]] && break
  sleep 0.1
done
[[ -n $port ]] || { echo "FAILED: the server did not start"; cat "$dir/serve.log"; kill "$pid"; exit 1; }
/usr/bin/python3 "$client" "$port" "$inputs" "$expected" 20 2
rc=$?
kill -TERM "$pid"
wait "$pid" || { echo "FAILED: the server's exit after SIGTERM"; rc=1; }
exit $rc
