#!/usr/bin/python3
"""PyTorch reference for Kiln's Fashion-MNIST training curves.

Trains the same two configurations as Kiln's C++ trainer and prints, per epoch, the mean training
loss, the test accuracy and the training wall time (evaluation excluded), so the docs can compare
curves and speed against a mainstream framework on the same machine.

Run it with Debian's Python, which has python3-torch (1.13) and numpy; the `python3` a pyenv puts
on PATH may lack torch:

  /usr/bin/python3 bench/fashion_mnist_torch.py --model mlp|cnn --epochs 10 --threads 2 \
      [--train-examples N] [--test-examples N] [--seed 1] [--shuffle numpy|kiln] \
      [--torch-default-init] [--data-dir DIR] [--csv out.csv]

Data: the gzip IDX files of Debian's dataset-fashion-mnist package
(/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz), read with gzip
and numpy. Pixels are divided by 255 (float32); no other normalization. --train-examples and
--test-examples keep the first N examples of each split (for quick checks).

Models (the same math as Kiln's; Kiln's CNN is NHWC, this one NCHW):
  mlp  Linear(784,512) ReLU Linear(512,512) ReLU Linear(512,10)
       Adam lr 1e-3, betas (0.9, 0.999), eps 1e-8; batch 128 (60000 -> 468 batches per epoch)
  cnn  Conv2d(1,32,3,padding=1) ReLU MaxPool2d(2) Conv2d(32,64,3,padding=1) ReLU MaxPool2d(2)
       Flatten Linear(64*7*7,128) ReLU Linear(128,10)
       plain SGD lr 0.1 (no momentum, no weight decay); batch 64 (60000 -> 937 batches per epoch)
Loss: mean softmax cross-entropy over the batch.

Initialization: like Kiln, Glorot/Xavier-uniform weights and zero biases for every Linear and
Conv2d (for a convolution fan_in = in_channels*kh*kw and fan_out = out_channels*kh*kw, as
torch.nn.init.xavier_uniform_ computes them). --torch-default-init keeps PyTorch's own default
initialization (Kaiming-uniform with a=sqrt(5), and uniform biases) instead. Weights are drawn from
torch's generator seeded with --seed, so they are not the same numbers as Kiln's.

Each epoch: the training examples are shuffled, the last partial batch is dropped, and the model
trains on the full batches; then it is evaluated on the test set (all 10000 examples by default) in
batches of 500 under torch.no_grad(). The shuffle (--shuffle):
  numpy  (default) numpy.random.RandomState(seed).permutation(n), one RandomState for the run.
  kiln   Kiln's ShuffledOrder (runtime/data/dataset.h): Fisher-Yates from the last position down,
         driven by SplitMix64 seeded with seed XOR SplitMix64(epoch).Next(), epochs counted from 0.
         With the same --seed this visits the examples in exactly the order Kiln's trainer does.
The per-epoch "seconds" time the whole training loop (gathering each batch, forward, backward,
optimizer step, reading the loss), but neither the computation of the epoch's order nor the
evaluation (reported separately as eval seconds).

At start the script prints torch's version, its thread count and the BLAS/LAPACK entries of
torch.__config__.show(), plus which BLAS/LAPACK shared objects the process actually mapped (Debian's
torch links libblas.so.3 / liblapack.so.3, whichever alternative update-alternatives selects:
reference BLAS, OpenBLAS, BLIS, MKL...). CPU convolutions go through oneDNN (MKL-DNN) when it is
enabled, not through the BLAS.
"""

import argparse
import csv
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_blas import blas_config_lines, mapped_blas_libraries

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
NUM_CLASSES = 10
EVAL_BATCH = 500

CONFIGS = {
    "mlp": {"batch": 128, "optimizer": "adam", "lr": 1e-3},
    "cnn": {"batch": 64, "optimizer": "sgd", "lr": 0.1},
}


# ----------------------------------------------------------------------------------------- data


def read_idx(path):
    """Reads a gzip IDX file: magic 0x00 0x00 <type> <ndims>, then ndims big-endian uint32 sizes."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (magic {data[:4].hex()})")
    type_code, ndims = data[2], data[3]
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if type_code not in dtypes:
        raise ValueError(f"{path}: unknown IDX element type 0x{type_code:02x}")
    header_end = 4 + 4 * ndims
    if len(data) < header_end:
        raise ValueError(f"{path}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndims, offset=4))
    dtype = np.dtype(dtypes[type_code])
    count = int(np.prod(dims)) if dims else 1
    if len(data) != header_end + count * dtype.itemsize:
        raise ValueError(f"{path}: {len(data) - header_end} bytes of data, dims {dims} need "
                         f"{count * dtype.itemsize}")
    return np.frombuffer(data, dtype=dtype, count=count, offset=header_end).reshape(dims)


def load_split(data_dir, prefix, limit):
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{prefix} images have shape {images.shape}, expected [n, 28, 28]")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise ValueError(f"{prefix}: {images.shape[0]} images but labels of shape {labels.shape}")
    if labels.max() >= NUM_CLASSES:
        raise ValueError(f"{prefix}: label {labels.max()} out of range")
    if limit is not None:
        if limit < 1 or limit > images.shape[0]:
            raise ValueError(f"{prefix}: asked for {limit} examples of {images.shape[0]}")
        images, labels = images[:limit], labels[:limit]
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0))  # [n, 28, 28]
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


# -------------------------------------------------------------------------------------- shuffle

MASK64 = (1 << 64) - 1


class SplitMix64:
    """Kiln's SplitMix64 (runtime/data/dataset.cc), in 64-bit unsigned arithmetic."""

    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        reject_below = (1 << 64) % n  # == (-n % n) in uint64
        while True:
            x = self.next()
            if x >= reject_below:
                return x % n


def kiln_shuffled_order(n, seed, epoch):
    """Kiln's ShuffledOrder(n, seed, epoch)."""
    order = list(range(n))
    random = SplitMix64(seed ^ SplitMix64(epoch).next())
    for i in range(n - 1, 0, -1):
        j = random.below(i + 1)
        order[i], order[j] = order[j], order[i]
    return np.array(order, dtype=np.int64)


# --------------------------------------------------------------------------------------- models


def make_model(name):
    if name == "mlp":
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, 512), nn.ReLU(),
            nn.Linear(512, 512), nn.ReLU(),
            nn.Linear(512, NUM_CLASSES),
        )
    if name == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
            nn.Linear(128, NUM_CLASSES),
        )
    raise ValueError(name)


def glorot_init(model):
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)


def model_input(model_name, x):
    """x: [b, 28, 28] float32 -> the model's input layout."""
    if model_name == "cnn":
        return x.unsqueeze(1)  # NCHW [b, 1, 28, 28]
    return x  # nn.Flatten makes [b, 784]


# ----------------------------------------------------------------------------------- reporting


def evaluate(model, model_name, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for begin in range(0, x.shape[0], EVAL_BATCH):
            logits = model(model_input(model_name, x[begin:begin + EVAL_BATCH]))
            correct += int((logits.argmax(dim=1) == y[begin:begin + EVAL_BATCH]).sum())
    model.train()
    return correct / x.shape[0]


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(CONFIGS), required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--train-examples", type=int, default=None,
                   help="use the first N training examples (default all 60000)")
    p.add_argument("--test-examples", type=int, default=None,
                   help="evaluate on the first N test examples (default all 10000)")
    p.add_argument("--seed", type=int, default=1, help="shuffle and init seed (default 1)")
    p.add_argument("--shuffle", choices=["numpy", "kiln"], default="numpy",
                   help="numpy RandomState permutation (default) or Kiln's exact ShuffledOrder")
    p.add_argument("--torch-default-init", action="store_true",
                   help="PyTorch's default init instead of Glorot-uniform weights, zero biases")
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--csv", default=None,
                   help="also write epoch,train_loss,test_accuracy,train_seconds,eval_seconds")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be at least 1")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def main(argv):
    args = parse_args(argv)
    config = CONFIGS[args.model]
    batch = config["batch"]

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    print(f"torch {torch.__version__}  numpy {np.__version__}  python {sys.version.split()[0]}")
    print(f"threads {torch.get_num_threads()} (interop {torch.get_num_interop_threads()})  "
          f"mkldnn available {torch.backends.mkldnn.is_available()}")
    for line in blas_config_lines():
        print(f"config: {line}")

    x_train, y_train = load_split(args.data_dir, "train", args.train_examples)
    x_test, y_test = load_split(args.data_dir, "t10k", args.test_examples)
    n = x_train.shape[0]
    batches = n // batch  # the last partial batch is dropped
    if batches == 0:
        raise SystemExit(f"{n} training examples make no full batch of {batch}")

    model = make_model(args.model)
    if not args.torch_default_init:
        glorot_init(model)
    if config["optimizer"] == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"], betas=(0.9, 0.999),
                                     eps=1e-8, weight_decay=0)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=0,
                                    weight_decay=0)
    params = sum(p.numel() for p in model.parameters())

    print(f"model {args.model}  params {params}  optimizer {config['optimizer']} lr {config['lr']}  "
          f"batch {batch}  init {'torch-default' if args.torch_default_init else 'glorot-uniform'}  "
          f"shuffle {args.shuffle} seed {args.seed}")
    print(f"train {n} examples -> {batches} batches/epoch ({n - batches * batch} dropped)  "
          f"test {x_test.shape[0]} examples")
    blas_reported = False  # reported after the first epoch, once lazily loaded libraries are in

    rng = np.random.RandomState(args.seed)
    rows = []
    model.train()
    for epoch in range(1, args.epochs + 1):
        if args.shuffle == "numpy":
            order = rng.permutation(n)
        else:
            order = kiln_shuffled_order(n, args.seed, epoch - 1)
        order = torch.from_numpy(order[:batches * batch].astype(np.int64))

        loss_sum = 0.0
        start = time.perf_counter()
        for b in range(batches):
            index = order[b * batch:(b + 1) * batch]
            xb = model_input(args.model, x_train.index_select(0, index))
            yb = y_train.index_select(0, index)
            loss = F.cross_entropy(model(xb), yb)  # mean over the batch
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item()
        train_seconds = time.perf_counter() - start

        if not blas_reported:
            for lib in mapped_blas_libraries():
                print(f"loaded: {lib}")
            blas_reported = True

        start = time.perf_counter()
        accuracy = evaluate(model, args.model, x_test, y_test)
        eval_seconds = time.perf_counter() - start

        train_loss = loss_sum / batches
        rows.append((epoch, train_loss, accuracy, train_seconds, eval_seconds))
        print(f"epoch {epoch}  train_loss {train_loss:.4f}  test_accuracy {accuracy:.4f}  "
              f"seconds {train_seconds:.1f}  (eval {eval_seconds:.1f})", flush=True)

    total_train = sum(r[3] for r in rows)
    best = max(rows, key=lambda r: r[2])
    print(f"summary model {args.model}  epochs {len(rows)}  final_test_accuracy {rows[-1][2]:.4f}  "
          f"best_test_accuracy {best[2]:.4f} (epoch {best[0]})  final_train_loss {rows[-1][1]:.4f}  "
          f"train_seconds_total {total_train:.1f}  train_seconds_per_epoch "
          f"{total_train / len(rows):.2f}  threads {args.threads}  torch {torch.__version__}")

    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch", "train_loss", "test_accuracy", "train_seconds", "eval_seconds"])
            for epoch, loss, acc, ts, es in rows:
                w.writerow([epoch, f"{loss:.6f}", f"{acc:.4f}", f"{ts:.3f}", f"{es:.3f}"])
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
