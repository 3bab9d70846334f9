"""The benchmark workloads' PyTorch models, shared by bench/peers.py (CPU) and bench/gpu_peers.py
(GPU): Glorot/Xavier-uniform weights and zero biases for every Linear and Conv2d, as Kiln's layers
initialize them. Import it after the thread environment is set (peers.py): it imports torch."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def glorot_(module):
    """Glorot/Xavier-uniform weights, zero biases, for every Linear and Conv2d in module."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def make_mlp():
    """MLP 784-512-512-10 with ReLUs (W1, W2)."""
    return glorot_(nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                                 nn.Linear(512, 10)))


def make_cnn():
    """The Fashion-MNIST CNN (W3), NCHW."""
    return glorot_(nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10)))


class AffineGelu(nn.Module):
    """W4a: gelu(x * a + b), exact (erf) GELU, F.gelu's default."""
    def forward(self, x, a, b):
        return F.gelu(x * a + b)


def generator(seed, offset):
    """The generator each workload draws its inputs from."""
    g = torch.Generator()
    g.manual_seed(seed * 1000 + offset)
    return g


def workload(name, seed):
    """(kind, module, inputs) of W1b1, W1b128, W2, W3 or W4a on the CPU: kind "infer" (inputs =
    call arguments) or "train" (inputs = [x, y], integer labels)."""
    torch.manual_seed(seed)
    if name in ("W1b1", "W1b128"):
        x = torch.rand(1 if name == "W1b1" else 128, 784, generator=generator(seed, 1))
        return "infer", make_mlp(), [x]
    if name == "W2":
        x = torch.rand(128, 784, generator=generator(seed, 2))
        y = torch.randint(0, 10, (128,), generator=generator(seed, 3))
        return "train", make_mlp(), [x, y]
    if name == "W3":
        x = torch.rand(64, 1, 28, 28, generator=generator(seed, 4))
        y = torch.randint(0, 10, (64,), generator=generator(seed, 5))
        return "train", make_cnn(), [x, y]
    if name == "W4a":
        g = generator(seed, 6)
        x = torch.randn(4096, 1024, generator=g)
        a = torch.randn(1024, generator=g)
        b = torch.randn(1024, generator=g)
        return "infer", AffineGelu(), [x, a, b]
    raise ValueError(name)
