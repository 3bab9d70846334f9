#!/usr/bin/env bash
# Kiln's main demo: build a model in C++, differentiate it, compile the whole training step ahead of
# time, and train with the compiled code on Fashion-MNIST.
#   1. the Fashion-MNIST MLP and CNN training graphs (forward, symbolic gradients, optimizer update),
#      built with the layers API and written as graph files; kilnc inspects one;
#   2. kilnc compiles the MLP's training step (through the kiln_aot_library Bazel macro) into an
#      object file and a C++ header, which a small app embeds to train on the real data set;
#   3. the same graph API on the reference interpreter: an MLP fits three spirals.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
steps=${1:-600}
bazel build //examples:build_fashion_graphs //examples:fashion_train_embedded //examples:spirals_train //tools:kilnc
out=$(mktemp -d)

echo "== 1. Fashion-MNIST training graphs"
bazel-bin/examples/build_fashion_graphs "$out"
bazel-bin/tools/kilnc inspect --no-nodes "$out/fashion_mlp_train.pb" | tail -n 6

echo "== 2. Compiled training step, embedded in an app: $steps steps of Adam, batch 128"
bazel-bin/tools/kilnc compile "$out/fashion_mlp_train.pb" --out "$out"
bazel-bin/examples/fashion_train_embedded "$steps"

echo "== 3. Reference interpreter: an MLP on three spirals"
bazel-bin/examples/spirals_train 500
