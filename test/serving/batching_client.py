#!/usr/bin/env python3
"""Dynamic batching in a running `kiln serve`: model "batched" (test/bundle's MLP at batch sizes 1,
4 and 16) with {"dynamic_batching": {"max_queue_delay_microseconds": 50000}}, served by 2 request
threads. 16 clients send one row each at once, 10 rounds: every answer must be its row's, and the
batches must average more than 2 requests (more than the request threads: waiting requests are
suspended, not holding a thread).

Usage: batching_client.py PORT METRICS_PORT INPUTS_BIN EXPECTED_BIN
"""
import concurrent.futures
import json
import sys
import urllib.request

from common import close, floats

port, metrics_port, inputs_bin, expected_bin = sys.argv[1:5]



X, EXPECTED = floats(inputs_bin), floats(expected_bin)


def one(i):
    row = i % 4
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 16],
                                   "data": X[row * 16:(row + 1) * 16]}]}).encode()
    req = urllib.request.Request("http://127.0.0.1:%s/v2/models/batched/infer" % port, data=body,
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        got = json.loads(r.read())["outputs"][0]["data"]
    return close(got, EXPECTED[row * 3:(row + 1) * 3])


def metrics():
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % metrics_port, timeout=10) as r:
        samples = {}
        for line in r.read().decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
    return samples


before = metrics()
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    results = list(pool.map(one, range(160)))
failures = 0 if all(results) else 1
print(("ok" if all(results) else "FAILED") + ": 160 batched requests, %d wrong" % results.count(False))

after = metrics()
key = 'model="batched",version="1"'


def grown(name):  # since `before`: the gRPC test (triton_client.py) sends to this model too
    return after.get(name % key, 0) - before.get(name % key, 0)


requests = grown("kiln_inference_requests_total{%s,outcome=\"success\"}")
executions = grown("kiln_executions_total{%s}")
alone = grown("kiln_batch_size_bucket{%s,le=\"1\"}")
queued = grown("kiln_queue_duration_seconds_sum{%s}")
# Requests wait for their batch suspended, not holding one of the server's 2 request threads, so
# batches hold more than 2 requests on average.
ok = requests == 160 and 0 < executions and executions * 2 < requests and alone < requests and queued > 0
print(("ok" if ok else "FAILED") + ": %d requests ran in %d batches (%d at batch size 1), %.3f s queued"
      % (requests, executions, alone, queued))
failures += 0 if ok else 1
sys.exit(failures)
