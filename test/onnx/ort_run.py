"""Runs an ONNX model in ONNX Runtime (the test venv's, from PyPI) on an inputs file (raw elements
of the model's one input, f32 or i64): the expected first output for onnx_import_test, as f32.

Usage: ort_run.py MODEL.onnx INPUTS_BIN OUT_BIN
"""
import sys

import numpy as np
import onnxruntime as ort

model, inputs, out = sys.argv[1:4]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
first = session.get_inputs()[0]
dtype = {"tensor(float)": np.float32, "tensor(int64)": np.int64}[first.type]
shape = [d if isinstance(d, int) else 4 for d in first.shape]  # a symbolic batch: 4
x = np.fromfile(inputs, dtype=dtype).reshape(shape)
(y,) = session.run(None, {first.name: x})
y.astype(np.float32).tofile(out)
