#!/usr/bin/env bash
# Kiln's main demo, as complete as the project is today (the compiler for whole graphs is next):
#   1. build the Fashion-MNIST MLP and CNN training graphs with the C++ layers API (forward, symbolic
#      gradients, optimizer updates) and write them as graph files; inspect one with kilnc;
#   2. train an MLP on three spirals with the same API on the reference interpreter;
#   3. the ahead-of-time path in miniature: MLIR → LLVM → x86-64 object, linked into a C app with gcc.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
bazel build //examples:build_fashion_graphs //examples:spirals_train //examples:aot_demo //tools:kilnc
out=$(mktemp -d)

echo "== 1. Fashion-MNIST training graphs"
bazel-bin/examples/build_fashion_graphs "$out"
bazel-bin/tools/kilnc inspect "$out/fashion_mlp_train.pb" | tail -n 8

echo "== 2. Training an MLP on three spirals (reference interpreter)"
bazel-bin/examples/spirals_train 1000

echo "== 3. Ahead-of-time compilation of a small MLIR function"
bazel-bin/examples/aot_demo "$out/relu_affine.o"
gcc -O2 examples/aot_demo_app.c "$out/relu_affine.o" -o "$out/app"
"$out/app"
