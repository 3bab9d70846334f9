#!/usr/bin/python3
"""The serving benchmark's peer model: the Fashion-MNIST MLP (784-512-512-10, ReLU, softmax) with
bench/torch_models.py's Glorot weights, as ONNX for MLServer + ONNX Runtime (bench/serve_bench.sh).
The same architecture and sizes as Kiln's bundle, so both servers do the same arithmetic per row;
the weights are PyTorch's seeded draw, not Kiln's. torch 1.13 (Debian) writes the ONNX file itself.

Usage: /usr/bin/python3 bench/serve_peer_model.py OUT.onnx
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import make_mlp  # noqa: E402

torch.manual_seed(0)
model = torch.nn.Sequential(make_mlp(), torch.nn.Softmax(dim=1)).eval()
torch.onnx.export(model, torch.zeros(1, 784), sys.argv[1], input_names=["images"],
                  output_names=["probabilities"],
                  dynamic_axes={"images": {0: "batch"}, "probabilities": {0: "batch"}}, opset_version=14)
