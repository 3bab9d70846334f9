"""Recomputes Kiln's exported MLP/CNN loss and gradients with PyTorch autograd in float64.

Usage: torch_check.py mlp|cnn FILE. Exits non-zero unless the loss and every parameter gradient agree
to a relative error (max |kiln - torch| / max |torch|, per tensor) of at most 1e-9.
"""
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

TOLERANCE = 1e-9


def read(path):
    tensors = {}
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos); pos += 4
        name = data[pos:pos + n].decode(); pos += n
        (rank,) = struct.unpack_from("<I", data, pos); pos += 4
        dims = struct.unpack_from("<%dq" % rank, data, pos); pos += 8 * rank
        count = int(np.prod(dims)) if rank else 1
        values = np.frombuffer(data, dtype="<f8", count=count, offset=pos); pos += 8 * count
        tensors[name] = torch.tensor(values.reshape(dims), dtype=torch.float64)
    return tensors


def main():
    kind, path = sys.argv[1], sys.argv[2]
    t = read(path)
    params = {k[len("param:"):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param:")}
    x, labels = t["images"], t["labels"].long()

    def dense(h, name, relu):
        y = h @ params[name + "/kernel"] + params[name + "/bias"]
        return F.relu(y) if relu else y

    if kind == "cnn":
        def conv(h, name):
            w = params[name + "/kernel"].permute(3, 2, 0, 1)  # HWIO -> OIHW
            return F.relu(F.conv2d(h, w, params[name + "/bias"], padding=1))
        h = x.permute(0, 3, 1, 2)  # NHWC -> NCHW
        h = F.max_pool2d(conv(h, "conv2d"), 2)
        h = F.max_pool2d(conv(h, "conv2d_1"), 2)
        h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # flatten in Kiln's NHWC order
        logits = dense(dense(h, "dense", True), "dense_1", False)
    else:
        logits = dense(dense(dense(x, "dense", True), "dense_1", True), "dense_2", False)
    loss = F.cross_entropy(logits, labels)
    loss.backward()

    def rel(a, b):
        return float((a - b).abs().max() / max(float(b.abs().max()), 1e-300))

    worst = rel(t["loss"], loss.detach())
    print("%s loss: kiln %.17g torch %.17g rel %.3g" % (kind, float(t["loss"]), float(loss), worst))
    for name, p in params.items():
        e = rel(t["grad:" + name], p.grad)
        print("%s grad %-20s %-16s rel %.3g" % (kind, name, tuple(p.shape), e))
        worst = max(worst, e)
    ok = worst <= TOLERANCE
    print("%s: max relative error %.3g (tolerance %g): %s" % (kind, worst, TOLERANCE, "OK" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
