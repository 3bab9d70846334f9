#!/usr/bin/env python3
"""Load and faults against a running `kiln serve` (model "tiny", test/bundle's MLP at batch sizes
1, 4 and 16), all on loopback and bounded in time and count:
  - a client that sends half a request and stalls is cut off by the server's timeout;
  - a flood of idle connections does not stop it serving;
  - 32 clients for SECONDS seconds, every answer checked: zero errors.

Usage: load_client.py PORT INPUTS_BIN EXPECTED_BIN SECONDS TIMEOUT_S
"""
import json
import socket
import sys
import threading
import time
import urllib.request

from common import close, floats

port, inputs_bin, expected_bin, seconds, timeout_s = sys.argv[1], sys.argv[2], sys.argv[3], \
    float(sys.argv[4]), float(sys.argv[5])
failures = 0



X, EXPECTED = floats(inputs_bin), floats(expected_bin)


def infer(rows):
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [rows, 16],
                                   "data": X[:rows * 16]}]}).encode()
    req = urllib.request.Request("http://127.0.0.1:%s/v2/models/tiny/infer" % port, data=body,
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        got = json.loads(r.read())["outputs"][0]["data"]
    return close(got, EXPECTED[:rows * 3])


def check(name, ok, detail=""):
    global failures
    print(("ok: " if ok else "FAILED: ") + name + ("" if ok else " " + str(detail)))
    failures += 0 if ok else 1


# A stalled client: headers promising a body, a byte of it, then nothing.
stalled = socket.create_connection(("127.0.0.1", int(port)))
stalled.sendall(b"POST /v2/models/tiny/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
check("served while a client stalls", infer(4))
stalled.settimeout(timeout_s + 5)
start = time.time()
try:
    closed = stalled.recv(4096) == b""
except (ConnectionResetError, socket.timeout) as e:
    closed = isinstance(e, ConnectionResetError)
waited = time.time() - start
check("the stalled client is cut off after the timeout (%.1f s)" % waited,
      closed and waited < timeout_s + 5, waited)
stalled.close()

# A flood of idle connections, then requests still answered.
flood = []
for _ in range(300):
    try:
        flood.append(socket.create_connection(("127.0.0.1", int(port)), timeout=5))
    except OSError:
        break
check("300 idle connections opened", len(flood) == 300, len(flood))
check("served during the flood", all(infer(rows) for rows in (1, 4, 3)))
for s in flood:
    s.close()

# 32 clients for `seconds` seconds.
counts, errors = [0] * 32, [0] * 32
deadline = time.time() + seconds


def client(i):
    rows = 1 + i % 4
    while time.time() < deadline:
        try:
            ok = infer(rows)
        except Exception:  # noqa: BLE001 - every failure counts
            ok = False
        counts[i] += 1
        errors[i] += 0 if ok else 1


threads = [threading.Thread(target=client, args=(i,)) for i in range(32)]
for t in threads:
    t.start()
for t in threads:
    t.join()
total = sum(counts)
check("32 clients for %.0f s: %d requests (%.0f/s), %d errors" % (seconds, total, total / seconds,
                                                                   sum(errors)),
      total > 0 and sum(errors) == 0, errors)
print("%d failed" % failures)
sys.exit(1 if failures else 0)
