"""Runs an ONNX model in ONNX Runtime (the test venv's, from PyPI) on inputs.bin: the expected
outputs for onnx_import_test, as f32 bytes.

Usage: ort_run.py MODEL.onnx INPUTS_BIN OUT_BIN
"""
import sys

import numpy as np
import onnxruntime as ort

model, inputs, out = sys.argv[1:4]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
x = np.fromfile(inputs, dtype=np.float32).reshape(4, 1, 4, 4)
(y,) = session.run(None, {session.get_inputs()[0].name: x})
y.astype(np.float32).tofile(out)
