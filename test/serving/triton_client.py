#!/usr/bin/env python3
"""tritonclient (the Open Inference Protocol's client, from PyPI) against a running `kiln serve`.

Usage: triton_client.py PORT INPUTS_BIN EXPECTED_BIN GRPC_PORT
Run with the test venv's python (setup.sh makes /opt/kiln-venv). The server serves model "tiny"
(test/bundle's MLP at batch sizes 1, 4 and 16). Exits 1 on a failure.
"""
import concurrent.futures
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

port, inputs_bin, expected_bin, grpc_port = sys.argv[1:5]
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

# The same over gRPC (inference.GRPCInferenceService).
g = grpcclient.InferenceServerClient("127.0.0.1:%s" % grpc_port)
check("tritonclient.grpc: live, ready", g.is_server_live() and g.is_server_ready())
check("tritonclient.grpc: server metadata", g.get_server_metadata().name == "kiln")
m = g.get_model_metadata("tiny")
check("tritonclient.grpc: model metadata", m.name == "tiny" and list(m.inputs[0].shape) == [-1, 16] and
      m.outputs[0].name == "probabilities" and list(m.versions) == ["1"], m)
check("tritonclient.grpc: model ready", g.is_model_ready("tiny") and not g.is_model_ready("nope"))
for rows in (4, 1):
    x = grpcclient.InferInput("x", [rows, 16], "FP32")
    x.set_data_from_numpy(X[:rows])
    result = g.infer("tiny", [x], outputs=[grpcclient.InferRequestedOutput("probabilities")],
                     request_id="g%d" % rows)
    got = result.as_numpy("probabilities")
    check("tritonclient.grpc: infer batch %d = the interpreter" % rows,
          got is not None and got.shape == (rows, 3) and np.allclose(got, EXPECTED[:rows], atol=1e-5) and
          result.get_response().id == "g%d" % rows, got)
got = g.infer("tiny", [x], model_version="1").as_numpy("probabilities")
check("tritonclient.grpc: infer a version, all outputs", got is not None and
      np.allclose(got, EXPECTED[:1], atol=1e-5), got)

stats = g.get_inference_statistics("tiny").model_stats
check("tritonclient.grpc: statistics", len(stats) == 1 and stats[0].version == "1" and
      stats[0].inference_stats.success.count >= 3 and
      0 < stats[0].inference_stats.compute_infer.ns < stats[0].inference_stats.success.ns, stats)
check("tritonclient.grpc: server metadata's extensions",
      "statistics" in g.get_server_metadata().extensions)

# Dynamic batching over gRPC: 16 clients at once, one row each; every answer its row's.
def batched(i):
    x = grpcclient.InferInput("x", [1, 16], "FP32")
    x.set_data_from_numpy(X[i % 4:i % 4 + 1])
    got = g.infer("batched", [x]).as_numpy("probabilities")
    return got is not None and np.allclose(got, EXPECTED[i % 4:i % 4 + 1], atol=1e-5)


with concurrent.futures.ThreadPoolExecutor(16) as pool:
    answers = list(pool.map(batched, range(64)))
check("tritonclient.grpc: 64 batched requests from 16 clients, each its row's", all(answers),
      "%d wrong" % answers.count(False))

bad_grpc = grpcclient.InferInput("x", [4, 8], "FP32")
bad_grpc.set_data_from_numpy(np.zeros((4, 8), np.float32))
bad_dtype = grpcclient.InferInput("x", [1, 16], "FP64")
bad_dtype.set_data_from_numpy(np.zeros((1, 16), np.float64))
for name, call, message in [
    ("unknown model", lambda: g.get_model_metadata("nope"), "unknown model 'nope'"),
    ("wrong shape", lambda: g.infer("tiny", [bad_grpc]), "has shape [4,8]"),
    ("wrong datatype", lambda: g.infer("tiny", [bad_dtype]), "must have datatype FP32"),
    ("bad version", lambda: g.infer("tiny", [x], model_version="x"), "is not a positive integer"),
    ("statistics of an unknown model", lambda: g.get_inference_statistics("nope"),
     "unknown model 'nope'"),
    ("unknown version", lambda: g.infer("tiny", [x], model_version="7"),
     "unknown version 7 of model 'tiny'"),
    ("unknown output", lambda: g.infer("tiny", [x], outputs=[grpcclient.InferRequestedOutput("y")]),
     "unknown output 'y'"),
]:
    try:
        call()
        check("tritonclient.grpc: " + name, False, "no error")
    except InferenceServerException as e:
        check("tritonclient.grpc: " + name, message in str(e), e)

print("%d failed" % failures)
sys.exit(1 if failures else 0)
