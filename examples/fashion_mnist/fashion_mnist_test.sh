#!/bin/bash
# The trainer end to end on a short run (1024 training examples, 500 test examples, batch 128):
#   - a run interrupted after epoch 2 and resumed from its checkpoint is bit-identical to an
#     uninterrupted one (same per-epoch losses and accuracies, same checkpoint, same export);
#   - the exported weights classify a test image in the embedded app, and the trained model's
#     bundle (LOGDIR/model.kiln) gives the same answer through classify --bundle;
#   - corrupt or mismatched inputs give clear errors: a truncated IDX file, a checkpoint of another
#     graph, a flipped byte in the exported weights, a logdir that already has checkpoints.
# Needs Debian's dataset-fashion-mnist (setup.sh installs it).
set -uo pipefail
trainer=$1 classify=$2
dir="${TEST_TMPDIR:-$(mktemp -d)}"
short=(--train_examples 1024 --test_examples 500)
failures=0

source "$(dirname "$0")/test_helpers.sh"

check "uninterrupted 4 epochs" "$trainer" "${short[@]}" --epochs 4 --logdir "$dir/a"
check "first 2 epochs" "$trainer" "${short[@]}" --epochs 2 --logdir "$dir/b"
check "resumed to 4 epochs" "$trainer" "${short[@]}" --epochs 4 --resume --logdir "$dir/b"
grep -q "resumed from .*ckpt-16.kckpt (step 16, epoch 2)" "$dir/out.txt" || { echo "FAILED: resume message"; failures=$((failures + 1)); }
# The per-epoch numbers (all but the two timing columns) and the final state match exactly.
check "same losses and accuracies" diff <(cut -d, -f1-6 "$dir/a/log.csv") <(cut -d, -f1-6 "$dir/b/log.csv")
[[ $(wc -l < "$dir/a/log.csv") == 5 ]] || { echo "FAILED: log.csv should have a header and 4 rows"; failures=$((failures + 1)); }
check "same final checkpoint" cmp "$dir/a/checkpoints/ckpt-32.kckpt" "$dir/b/checkpoints/ckpt-32.kckpt"
check "same exported weights" cmp "$dir/a/inference.kckpt" "$dir/b/inference.kckpt"
check "TensorBoard event files" test -n "$(ls "$dir"/b/events.out.tfevents.* 2>/dev/null)"

check "classify a test image" "$classify" --weights "$dir/a/inference.kckpt" --index 0
grep -qE "^test image 0: .+ \([0-9.]+%\); labelled Ankle boot; weights from step 32$" "$dir/out.txt" ||
  { echo "FAILED: classify output"; cat "$dir/out.txt"; failures=$((failures + 1)); }

# The trained model as a bundle (written from the trainer's built-in untrained one): the same
# answer as the compiled class with the exported weights, and the same file from the resumed run.
sed -n 's/; weights from step 32$//p' "$dir/out.txt" > "$dir/from_weights.txt"
check "same bundle" cmp "$dir/a/model.kiln" "$dir/b/model.kiln"
check "classify with the bundle" "$classify" --bundle "$dir/a/model.kiln" --index 0
sed -n "s|; model from $dir/a/model.kiln\$||p" "$dir/out.txt" > "$dir/from_bundle.txt"
check "the bundle's answer is the class's" test -s "$dir/from_bundle.txt" -a -s "$dir/from_weights.txt"
check "the bundle's answer is the class's" cmp "$dir/from_weights.txt" "$dir/from_bundle.txt"
cp "$dir/a/model.kiln" "$dir/flipped.kiln"
printf '\x55' | dd of="$dir/flipped.kiln" bs=1 seek=100000 conv=notrunc status=none
expect_error "a flipped byte in the bundle" 1 "flipped.kiln: section" "$classify" --bundle "$dir/flipped.kiln"
expect_error "both --weights and --bundle" 2 "one of --weights and --bundle is required" \
  "$classify" --weights "$dir/a/inference.kckpt" --bundle "$dir/a/model.kiln"

expect_error "existing checkpoints without --resume" 1 "already holds checkpoints: pass --resume" \
  "$trainer" "${short[@]}" --epochs 1 --logdir "$dir/a"
expect_error "--resume without checkpoints" 1 "NOT_FOUND" "$trainer" "${short[@]}" --resume --logdir "$dir/none"
expect_error "checkpoint of another graph" 1 "is of another graph" \
  "$trainer" --model cnn "${short[@]}" --resume --logdir "$dir/a"
expect_error "training weights given to the classifier" 1 "is of another graph" \
  "$classify" --weights "$dir/a/checkpoints/ckpt-32.kckpt"
cp "$dir/a/inference.kckpt" "$dir/flipped.kckpt"
printf '\x55' | dd of="$dir/flipped.kckpt" bs=1 seek=1000 conv=notrunc status=none
expect_error "a flipped byte in the weights" 1 "DATA_LOSS" "$classify" --weights "$dir/flipped.kckpt"
mkdir -p "$dir/data"
cp /usr/share/datasets/fashion-mnist/*.gz "$dir/data/"
head -c 20000 /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz > "$dir/data/t10k-images-idx3-ubyte.gz"
expect_error "a truncated IDX file" 1 "t10k-images-idx3-ubyte.gz" "$trainer" "${short[@]}" --data "$dir/data" --logdir "$dir/c"
expect_error "an unknown flag" 2 "unknown flag --epoch" "$trainer" --epoch 3
expect_error "a bad flag value" 2 "--epochs must be an integer >= 1, got 'x'" "$trainer" --epochs x
expect_error "classify without weights" 2 "one of --weights and --bundle is required" "$classify"
expect_error "--device cuda in the CPU build" 2 "build //examples/fashion_mnist:fashion_mnist_cuda" \
  "$trainer" --device cuda
expect_error "classify --device cuda in the CPU build" 2 "the other is //examples/fashion_mnist:classify_cuda" \
  "$classify" --weights "$dir/a/inference.kckpt" --device cuda

echo "$failures failed"
[[ $failures == 0 ]]
