#!/usr/bin/env bash
# Kiln's main demo: build a model in C++, differentiate it, compile the whole training step ahead of
# time, and train with the compiled code on Fashion-MNIST.
#   1. the Fashion-MNIST MLP's training, evaluation and inference graphs (forward, symbolic
#      gradients, Adam update), built with the layers API; kilnc inspects the training step;
#   2. the trainer (examples/fashion_mnist), which embeds all three compiled by kiln_aot_library:
#      EPOCHS epochs (default 10, a few minutes on 2 cores) with test accuracy, checkpoints, a CSV
#      log and TensorBoard events in runs/fashion_mlp, then an export of the inference weights;
#   3. the embedded classifier loads those weights and labels three test images;
#   4. the same graph API on the reference interpreter: an MLP fits three spirals.
# Usage: ./demo.sh [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
epochs=${1:-10}
bazel build //examples/fashion_mnist:build_graphs //examples/fashion_mnist:fashion_mnist \
  //examples/fashion_mnist:classify //examples:spirals_train //tools:kilnc
out=$(mktemp -d)
run=runs/fashion_mlp
rm -rf "$run"

echo "== 1. Fashion-MNIST graphs"
bazel-bin/examples/fashion_mnist/build_graphs "$out"
bazel-bin/tools/kilnc inspect --no-nodes "$out/mlp_train.pb" | tail -n 6

echo "== 2. Training with the compiled step: $epochs epochs of Adam, batch 128"
bazel-bin/examples/fashion_mnist/fashion_mnist --model mlp --epochs "$epochs" --logdir "$run"

echo "== 3. The embedded classifier, loading the exported weights"
for i in 0 1 2; do
  bazel-bin/examples/fashion_mnist/classify --weights "$run/inference.kckpt" --index "$i"
done

echo "== 4. The same model from one file: the trained bundle, loaded at run time"
bazel-bin/examples/fashion_mnist/classify --bundle "$run/model.kiln" --index 0
bazel-bin/tools/kilnc inspect "$run/model.kiln" | head -n 4

echo "== 5. Reference interpreter: an MLP on three spirals"
bazel-bin/examples/spirals_train 500
