#!/usr/bin/env python3
"""One check of a running `kiln serve` while its repository changes: the model's versions, and the
answers of a default (no version) infer and of each version's.

Usage: versions.py PORT INPUTS_BIN VERSIONS EXPECTED_BIN [VERSION:EXPECTED_BIN...]
VERSIONS is the list the metadata must give ("1,2"); the default infer must equal EXPECTED_BIN, and
each VERSION's infer its EXPECTED_BIN. Retries for up to 10 s (the server polls); exits 1 if the
state never matches, printing the last difference.
"""
import json
import sys
import time
import urllib.error
import urllib.request

from common import close, floats

port, inputs_bin, versions, expected_bin = sys.argv[1:5]
pinned = [a.split(":", 1) for a in sys.argv[5:]]
base = "http://127.0.0.1:%s/v2/models/tiny" % port



X = floats(inputs_bin)


def infer(path):
    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 16], "data": X}]})
    req = urllib.request.Request(base + path + "/infer", data=body.encode(), method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())["outputs"][0]["data"]



def state():
    with urllib.request.urlopen(base, timeout=10) as r:
        got = json.loads(r.read())["versions"]
    if got != versions.split(","):
        return "versions %s, not %s" % (got, versions)
    if not close(infer(""), floats(expected_bin)):
        return "the default version's answer is not %s" % expected_bin
    for v, e in pinned:
        if not close(infer("/versions/" + v), floats(e)):
            return "version %s's answer is not %s" % (v, e)
    return None


deadline, problem = time.time() + 10, None
while time.time() < deadline:
    try:
        problem = state()
    except (urllib.error.URLError, OSError, ValueError) as e:
        problem = repr(e)
    if problem is None:
        print("ok: versions %s%s" % (versions, "".join(" %s:%s" % (v, e.split("/")[-1]) for v, e in pinned)))
        sys.exit(0)
    time.sleep(0.1)
print("FAILED: %s" % problem)
sys.exit(1)
