#!/usr/bin/env python3
"""tritonclient (the Open Inference Protocol's client, from PyPI) against a running `kiln serve`.

Usage: triton_client.py PORT INPUTS_BIN EXPECTED_BIN
Run with the test venv's python (setup.sh makes /opt/kiln-venv). The server serves model "tiny"
(test/bundle's MLP at batch sizes 1, 4 and 16). Exits 1 on a failure.
"""
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

port, inputs_bin, expected_bin = sys.argv[1:4]
X = np.fromfile(inputs_bin, dtype=np.float32).reshape(4, 16)
EXPECTED = np.fromfile(expected_bin, dtype=np.float32).reshape(4, 3)
client = httpclient.InferenceServerClient("127.0.0.1:%s" % port)
failures = 0


def check(name, ok, detail=""):
    global failures
    print(("ok: " if ok else "FAILED: ") + name + ("" if ok else " " + str(detail)))
    failures += 0 if ok else 1


check("tritonclient: live", client.is_server_live())
check("tritonclient: ready", client.is_server_ready())
check("tritonclient: server metadata", client.get_server_metadata()["name"] == "kiln")
metadata = client.get_model_metadata("tiny")
check("tritonclient: model metadata", metadata["inputs"][0]["shape"] == [-1, 16] and
      metadata["outputs"][0]["name"] == "probabilities", metadata)
check("tritonclient: model ready", client.is_model_ready("tiny") and client.is_model_ready("tiny", "1"))

for binary in (True, False):
    for rows in (4, 2):
        x = httpclient.InferInput("x", [rows, 16], "FP32")
        x.set_data_from_numpy(X[:rows], binary_data=binary)
        out = httpclient.InferRequestedOutput("probabilities", binary_data=binary)
        result = client.infer("tiny", [x], outputs=[out], request_id="t%d" % rows)
        got = result.as_numpy("probabilities")
        check("tritonclient: infer %s, batch %d = the interpreter" % ("binary" if binary else "JSON", rows),
              got is not None and got.shape == (rows, 3) and np.allclose(got, EXPECTED[:rows], atol=1e-5),
              got)
# No outputs named: the client asks for all, in binary.
x = httpclient.InferInput("x", [4, 16], "FP32")
x.set_data_from_numpy(X)
got = client.infer("tiny", [x]).as_numpy("probabilities")
check("tritonclient: infer, all outputs", got is not None and np.allclose(got, EXPECTED, atol=1e-5), got)

try:
    client.get_model_metadata("nope")
    check("tritonclient: unknown model", False, "no error")
except InferenceServerException as e:
    check("tritonclient: unknown model", "unknown model 'nope'" in str(e), e)
bad_shape = httpclient.InferInput("x", [4, 8], "FP32")
bad_shape.set_data_from_numpy(np.zeros((4, 8), np.float32))
try:
    client.infer("tiny", [bad_shape])
    check("tritonclient: wrong shape", False, "no error")
except InferenceServerException as e:
    check("tritonclient: wrong shape", "has shape [4,8]" in str(e), e)

print("%d failed" % failures)
sys.exit(1 if failures else 0)
