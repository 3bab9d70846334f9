#!/usr/bin/env python3
"""Checks a running `kiln serve` over HTTP (Open Inference Protocol), with Python's standard library.

Usage: serve_client.py PORT INPUTS_BIN EXPECTED_BIN MAX_BODY_BYTES [METRICS_PORT]
The server serves model "tiny" (test/bundle's MLP: x f32[-1,16] -> probabilities f32[-1,3]),
compiled at batch sizes 1, 4 and 16, as version 1. Prints one line per check; exits 1 on a failure.
"""
import concurrent.futures
import json
import sys
import urllib.error
import urllib.request

from common import close, floats

port, inputs_bin, expected_bin, max_body = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
metrics_port = sys.argv[5] if len(sys.argv) > 5 else None
base = "http://127.0.0.1:%s" % port
failures = 0



X, EXPECTED = floats(inputs_bin), floats(expected_bin)  # [4, 16], [4, 3]


def call(method, path, body=None, headers=None):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
            return r.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        return e.code, json.loads(text) if text else None


def check(name, ok, detail=""):
    global failures
    print(("ok: " if ok else "FAILED: ") + name + ("" if ok else " " + str(detail)))
    failures += 0 if ok else 1


def infer_request(rows, **extra):
    body = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, 16], "data": X[:rows * 16] +
                        [0.0] * max(0, rows * 16 - len(X))}]}
    body.update(extra)
    return body



code, body = call("GET", "/v2/health/live")
check("live", code == 200, code)
code, body = call("GET", "/v2/health/ready")
check("ready", code == 200, code)
code, body = call("GET", "/v2")
check("server metadata", code == 200 and body["name"] == "kiln", body)
code, body = call("GET", "/v2/models/tiny")
check("model metadata", code == 200 and body["versions"] == ["1"] and body["platform"] == "kiln" and
      body["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 16]}] and
      body["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}], body)
code, body = call("GET", "/v2/models/tiny/versions/1/ready")
check("model version ready", code == 200, code)

# Results equal the interpreter's, at every batch size up to the largest compiled (padded).
code, body = call("POST", "/v2/models/tiny/infer", infer_request(4, id="r4"))
out = body["outputs"][0] if code == 200 else {}
check("infer batch 4 = the interpreter", code == 200 and body["id"] == "r4" and
      body["model_name"] == "tiny" and body["model_version"] == "1" and out["shape"] == [4, 3] and
      close(out["data"], EXPECTED), body)
for rows in (1, 2, 3):
    code, body = call("POST", "/v2/models/tiny/versions/1/infer", infer_request(rows))
    check("infer batch %d (padded to a compiled size)" % rows,
          code == 200 and close(body["outputs"][0]["data"], EXPECTED[:rows * 3]), body)
nested = {"inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 16],
                      "data": [X[r * 16:(r + 1) * 16] for r in range(4)]}]}
code, body = call("POST", "/v2/models/tiny/infer", nested)
check("nested data", code == 200 and close(body["outputs"][0]["data"], EXPECTED), body)
code, body = call("POST", "/v2/models/tiny/infer", infer_request(16, outputs=[{"name": "probabilities"}]))
check("batch 16 with a requested output", code == 200 and body["outputs"][0]["shape"] == [16, 3] and
      close(body["outputs"][0]["data"][:12], EXPECTED), body)

# Bad requests: a clear 4xx each, and the server goes on serving.
def expect(name, code_want, message, method, path, body=None, headers=None):
    code, got = call(method, path, body, headers)
    check(name, code == code_want and got is not None and message in got.get("error", ""),
          (code, got))


expect("malformed JSON", 400, "not a JSON object", "POST", "/v2/models/tiny/infer", b"{\"inputs\": [")
expect("wrong shape", 400, "has shape [2,15], the model takes [-1,16]", "POST", "/v2/models/tiny/infer",
       {"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 15], "data": [0] * 30}]})
expect("wrong dtype", 400, "must have datatype FP32", "POST", "/v2/models/tiny/infer",
       {"inputs": [{"name": "x", "datatype": "INT32", "shape": [1, 16], "data": [0] * 16}]})
expect("missing input", 400, "input 'x' is missing", "POST", "/v2/models/tiny/infer", {"inputs": []})
expect("extra input", 400, "unknown input 'y'", "POST", "/v2/models/tiny/infer",
       {"inputs": infer_request(1)["inputs"] + [{"name": "y", "datatype": "FP32", "shape": [1], "data": [1]}]})
expect("too few values", 400, "has 15 values for shape [1,16]", "POST", "/v2/models/tiny/infer",
       {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 16], "data": [0] * 15}]})
expect("data not numbers", 400, "\"data\" is not an array of numbers", "POST", "/v2/models/tiny/infer",
       {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 16], "data": ["a"] * 16}]})
expect("batch over the largest compiled", 400, "batch size 17 is outside 1 to 16", "POST",
       "/v2/models/tiny/infer", infer_request(17))
expect("unknown output", 400, "unknown output 'logits'", "POST", "/v2/models/tiny/infer",
       infer_request(1, outputs=[{"name": "logits"}]))
expect("body over the limit", 413, "over %d bytes" % max_body, "POST", "/v2/models/tiny/infer",
       b" " * (max_body + 1))
# The binary tensor extension, wrong: a header past the body, a binary size off the shape's.
header = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 16],
                                 "parameters": {"binary_data_size": 60}}]}).encode()
expect("binary header past the body", 400, "over the body's size", "POST", "/v2/models/tiny/infer",
       header, {"Inference-Header-Content-Length": str(len(header) + 1)})
expect("binary size off the shape", 400, "has 60 bytes of binary data for shape [1,16]", "POST",
       "/v2/models/tiny/infer", header + b"\0" * 60, {"Inference-Header-Content-Length": str(len(header))})
expect("binary header not a size", 400, "is not a size", "POST", "/v2/models/tiny/infer",
       header, {"Inference-Header-Content-Length": "x"})
expect("unknown model", 404, "unknown model 'nope'", "GET", "/v2/models/nope")
expect("unknown version", 404, "unknown version 7 of model 'tiny'", "POST", "/v2/models/tiny/versions/7/infer",
       infer_request(1))
expect("bad version", 400, "is not a positive integer", "GET", "/v2/models/tiny/versions/x")
expect("unknown path", 404, "no such path", "GET", "/v3")
expect("infer with GET", 405, "POST", "GET", "/v2/models/tiny/infer")

# Many clients at once (bounded: 8 threads x 25 requests), every answer checked.
def one(i):
    rows = 1 + i % 4
    code, body = call("POST", "/v2/models/tiny/infer", infer_request(rows))
    return code == 200 and close(body["outputs"][0]["data"], EXPECTED[:rows * 3])


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    results = list(pool.map(one, range(200)))
check("200 requests from 8 clients, all right", all(results), results.count(False))
code, body = call("POST", "/v2/models/tiny/infer", infer_request(4))
check("still serving after the bad requests", code == 200 and close(body["outputs"][0]["data"], EXPECTED))

# Statistics (Triton's extension) and Prometheus metrics count what happened above.
code, body = call("GET", "/v2/models/stats")
tiny = [m for m in body["model_stats"] if m["name"] == "tiny" and m["version"] == "1"] if code == 200 else []
check("statistics", len(tiny) == 1 and tiny[0]["inference_stats"]["success"]["count"] >= 200 and
      tiny[0]["inference_stats"]["fail"]["count"] >= 10 and tiny[0]["execution_count"] >= 200, body)
# Triton's split of a request's time: compute within the whole, no queue without batching.
stats = tiny[0]["inference_stats"] if tiny else {}
check("statistics: compute and queue time", bool(stats) and
      stats["compute_infer"]["count"] == stats["success"]["count"] and
      0 < stats["compute_infer"]["ns"] < stats["success"]["ns"] and stats["queue"]["ns"] == 0, stats)
code, body = call("GET", "/v2/models/tiny/versions/1/stats")
check("statistics of one version", code == 200 and len(body["model_stats"]) == 1, body)
if metrics_port:
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % metrics_port, timeout=10) as r:
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    success = samples.get('kiln_inference_requests_total{model="tiny",version="1",outcome="success"}', 0)
    failure = samples.get('kiln_inference_requests_total{model="tiny",version="1",outcome="failure"}', 0)
    count = samples.get('kiln_request_duration_seconds_count{model="tiny",version="1"}', 0)
    inf = samples.get('kiln_request_duration_seconds_bucket{model="tiny",version="1",le="+Inf"}', 0)
    batch16 = samples.get('kiln_batch_size_bucket{model="tiny",version="1",le="16"}', 0)
    check("prometheus metrics", success >= 200 and failure >= 10 and count == success + failure and
          inf == count and batch16 == success, (success, failure, count, inf, batch16))

print("%d failed" % failures)
sys.exit(1 if failures else 0)
