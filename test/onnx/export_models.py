#!/usr/bin/python3
"""ONNX models for onnx_import_test, exported by Debian's torch (1.13) and torchvision (0.14) as
users export theirs:
mlp.onnx (Flatten, Gemm, Relu, Gemm, Softmax; a symbolic batch), ops.onnx (MatMul, Add,
Reshape, Transpose, Tanh, Sub, Mul, Div, Sigmoid; a fixed batch), cnn.onnx (Conv,
BatchNormalization, MaxPool, GlobalAveragePool: a ResNet-style block), unsupported.onnx (NonZero,
which Kiln does not import), old_opset.onnx (opset 11), encoder.onnx (a BERT-style encoder, whose
attention computes shapes), resnet18.onnx (torchvision's, untrained), inputs.bin (f32
[4,1,4,4]), ids.bin (i64 [4,8], the encoder's tokens) and image.bin (f32 [1,3,64,64]).

Usage: export_models.py OUT_DIR
"""
import sys

import torch
import torchvision

out = sys.argv[1]
torch.manual_seed(0)


class Mlp(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(16, 32), torch.nn.Linear(32, 3)

    def forward(self, x):
        return torch.softmax(self.fc2(torch.relu(self.fc1(torch.flatten(x, 1)))), dim=1)


class Ops(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4, 5))
        self.b = torch.nn.Parameter(torch.randn(5))

    def forward(self, x):
        y = torch.tanh(x.reshape(4, 4, 4) @ self.w + self.b)  # [4,4,5]
        y = y.transpose(1, 2)  # [4,5,4]
        return torch.sigmoid((y - 0.5) * 2.0 / 3.0).reshape(4, 20)


class Cnn(torch.nn.Module):
    """A small ResNet-style block: Conv, BatchNormalization, Relu, MaxPool, a residual Add,
    GlobalAveragePool, Flatten, Gemm."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.fc = torch.nn.Linear(8, 3)
        with torch.no_grad():  # running statistics other than 0 and 1
            self.bn.running_mean.uniform_(-0.5, 0.5)
            self.bn.running_var.uniform_(0.5, 2.0)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv1(x)))
        y = torch.nn.functional.max_pool2d(y, 2)
        y = torch.relu(y + self.conv2(y))
        return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(y, 1), 1))


class Encoder(torch.nn.Module):
    """A BERT-style encoder: token embeddings (Gather) plus positions, two Transformer layers
    (attention, GELU feed-forward, LayerNorms) and a final LayerNorm. Its attention computes
    shapes (Shape, Gather, Slice), which the importer folds."""

    def __init__(self, vocab=100, d=32, heads=4, seq=8):
        super().__init__()
        self.tok = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Parameter(torch.randn(seq, d) * 0.1)
        layer = torch.nn.TransformerEncoderLayer(d, heads, dim_feedforward=64, dropout=0.0,
                                                 activation="gelu", batch_first=True)
        self.enc = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.norm = torch.nn.LayerNorm(d)

    def forward(self, ids):
        return self.norm(self.enc(self.tok(ids) + self.pos))


class Unsupported(torch.nn.Module):
    def forward(self, x):
        return torch.nonzero(x)  # NonZero: its output's shape depends on the data


x = torch.linspace(-1, 1, 64).reshape(4, 1, 4, 4)
x.numpy().astype("float32").tofile(out + "/inputs.bin")
torch.onnx.export(Mlp().eval(), x, out + "/mlp.onnx", input_names=["x"], output_names=["p"],
                  dynamic_axes={"x": {0: "batch"}, "p": {0: "batch"}}, opset_version=14)
torch.onnx.export(Ops().eval(), x, out + "/ops.onnx", input_names=["x"], output_names=["y"],
                  opset_version=14)
torch.onnx.export(Cnn().eval(), x, out + "/cnn.onnx", input_names=["x"], output_names=["y"],
                  opset_version=14, training=torch.onnx.TrainingMode.PRESERVE)
ids = torch.randint(0, 100, (4, 8))
ids.numpy().astype("int64").tofile(out + "/ids.bin")
torch.onnx.export(Encoder().eval(), ids, out + "/encoder.onnx", input_names=["ids"],
                  output_names=["h"], opset_version=14)
# torchvision's ResNet-18, untrained (no download), on a 64x64 image.
image = torch.rand(1, 3, 64, 64)
image.numpy().tofile(out + "/image.bin")
torch.onnx.export(torchvision.models.resnet18(weights=None).eval(), image, out + "/resnet18.onnx",
                  input_names=["x"], output_names=["y"], opset_version=14)
torch.onnx.export(Unsupported(), x, out + "/unsupported.onnx", input_names=["x"], output_names=["y"],
                  opset_version=14)
torch.onnx.export(Mlp().eval(), x, out + "/old_opset.onnx", opset_version=11)
