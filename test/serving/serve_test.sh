#!/bin/bash
# kiln serve end to end: a model repository with one bundle (test/bundle's MLP at batch sizes 1, 4
# and 16), the server started on a free loopback port, serve_client.py (Python's standard library)
# and triton_client.py (tritonclient, from the test venv) against it; versions added (half a file
# first), removed, and a kill -9 while one is being copied in; then SIGTERM:
# the server finishes and exits 0. Also its usage and start-up errors.
set -uo pipefail
kiln=$1 bundle=$2 inputs=$3 expected=$4 client=$5 triton_client=$6 bundle2=$7 expected2=$8 versions=$9
batching_client=${10}
dir="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
mkdir -p "$dir/repo/tiny/1" "$dir/repo/batched/1"
cp "$bundle" "$dir/repo/tiny/1/model.kiln"
cp "$bundle" "$dir/repo/batched/1/model.kiln"
echo '{"dynamic_batching": {"max_queue_delay_microseconds": 50000}, "instances": 1}' \
  > "$dir/repo/batched/config.json"

start() {  # start LOG: starts the server on the repository, logging to LOG; sets pid and port
  log=$1
  "$kiln" serve --model-repository "$dir/repo" --http-port 0 --metrics-port 0 --grpc-port 0 \
    --max-body-bytes 100000 --poll-seconds 0.2 --threads 2 >"$log" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^kiln serve: serving .* on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$log")
    [[ -n $port ]] && break
    sleep 0.1
  done
  if [[ -z $port ]]; then
    echo "FAILED: the server did not start"; cat "$log"; kill "$pid"; exit 1
  fi
  metrics_port=$(sed -n 's/^kiln serve: metrics on http:\/\/127.0.0.1:\([0-9]*\)\/metrics$/\1/p' "$log")
  grpc_port=$(sed -n 's/^kiln serve: gRPC on 127.0.0.1:\([0-9]*\)$/\1/p' "$log")
}
versions_are() { /usr/bin/python3 "$versions" "$port" "$inputs" "$@" || failures=$((failures + 1)); }
start "$dir/serve.log"
/usr/bin/python3 "$client" "$port" "$inputs" "$expected" 100000 "$metrics_port" || failures=$((failures + 1))
# tritonclient from the test venv (setup.sh makes it): binary and JSON tensors as Triton's users send.
venv_python=/opt/kiln-venv/bin/python
if [[ -x $venv_python ]]; then
  "$venv_python" "$triton_client" "$port" "$inputs" "$expected" "$grpc_port" || failures=$((failures + 1))
else
  echo "FAILED: no $venv_python: run ./setup.sh"; failures=$((failures + 1))
fi
/usr/bin/python3 "$batching_client" "$port" "$metrics_port" "$inputs" "$expected" || failures=$((failures + 1))

# A new version while serving: half a file (a copy in progress) is not loaded; the whole one,
# renamed in, is, and requests without a version go to it; a removed version is unloaded.
mkdir -p "$dir/repo/tiny/2"
head -c 20000 "$bundle2" > "$dir/repo/tiny/2/model.kiln"
wait_for() {  # wait_for TEXT LOG: up to 10 s for the server to log TEXT
  for _ in $(seq 100); do grep -qF -- "$1" "$2" && return 0; sleep 0.1; done
  echo "FAILED: no '$1' in $2"; failures=$((failures + 1))
}
wait_for "not loaded (will retry): DATA_LOSS: $dir/repo/tiny/2/model.kiln" "$dir/serve.log"
versions_are 1 "$expected"
cp "$bundle2" "$dir/repo/tiny/2/.model.kiln.tmp" && mv "$dir/repo/tiny/2/.model.kiln.tmp" "$dir/repo/tiny/2/model.kiln"
versions_are 1,2 "$expected2" "1:$expected" "2:$expected2"
wait_for "kiln serve: loaded tiny version 2" "$dir/serve.log"

# kill -9 while version 3 is half copied: on restart the server serves the complete versions.
mkdir -p "$dir/repo/tiny/3"
head -c 30000 "$bundle2" > "$dir/repo/tiny/3/model.kiln"
kill -9 "$pid"
wait "$pid" 2>/dev/null
start "$dir/serve2.log"
versions_are 1,2 "$expected2" "1:$expected"
rm -rf "$dir/repo/tiny/3" "$dir/repo/tiny/1"
versions_are 2 "$expected2"
wait_for "kiln serve: unloaded tiny version 1" "$dir/serve2.log"

kill -TERM "$pid"
wait "$pid"
rc=$?
if [[ $rc -ne 0 ]]; then echo "FAILED: exit $rc after SIGTERM"; failures=$((failures + 1)); else echo "ok: SIGTERM, exit 0"; fi
grep -q "SIGTERM: finishing requests in flight" "$dir/serve2.log" || { echo "FAILED: no drain message"; failures=$((failures + 1)); }

expect() {  # expect CODE MESSAGE ARGS...
  local code=$1 message=$2; shift 2
  "$kiln" "$@" >"$dir/out" 2>&1
  local got=$?
  if [[ $got -eq $code ]] && grep -qF -- "$message" "$dir/out"; then echo "ok: kiln $*"; else
    echo "FAILED: kiln $* -> exit $got (want $code, '$message')"; cat "$dir/out"; failures=$((failures + 1)); fi
}
expect 2 "--model-repository DIR is required" serve
expect 2 "unknown flag '--port'" serve --model-repository "$dir/repo" --port 1
expect 2 "--http-port: '70000' is not a port" serve --model-repository "$dir/repo" --http-port 70000
expect 2 "unknown command 'srve'" srve
expect 1 "is not a directory" serve --model-repository "$dir/none"
mkdir -p "$dir/bad/tiny/1" && echo "not a bundle" > "$dir/bad/tiny/1/model.kiln"
expect 1 "no model loaded: $dir/bad/tiny/1/model.kiln: not a Kiln bundle" serve --model-repository "$dir/bad"
mkdir -p "$dir/badconfig/tiny/1" && cp "$bundle" "$dir/badconfig/tiny/1/model.kiln"
echo '{"dynamic_batching": {"max_queue_delay": 5}}' > "$dir/badconfig/tiny/config.json"
expect 1 "config.json: unknown dynamic_batching setting 'max_queue_delay'" serve --model-repository "$dir/badconfig"
echo "$failures failed"
[[ $failures -eq 0 ]]
