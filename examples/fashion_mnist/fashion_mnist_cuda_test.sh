#!/bin/bash
# The CUDA builds of the trainer and the classifier without a GPU driver (KILN_CUDA_DRIVER names one
# that does not exist, so this holds on GPU machines too): both say so and exit 1 without writing
# checkpoints; and a CPU --device is pointed at the CPU build. On a GPU machine, test/gpu/run.sh
# trains with them.
set -uo pipefail
trainer=$1 classify=$2
dir="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
source "$(dirname "$0")/test_helpers.sh"
export KILN_CUDA_DRIVER=libno_such_cuda_driver.so.1
expect_error "training without a driver" 1 "UNAVAILABLE: no CUDA driver: libno_such_cuda_driver.so.1" \
  "$trainer" --epochs 1 --train_examples 256 --logdir "$dir/run"
[[ ! -e "$dir/run/checkpoints" ]] || { echo "FAILED: checkpoints were written"; failures=$((failures + 1)); }
expect_error "classifying without a driver" 1 "UNAVAILABLE: no CUDA driver: libno_such_cuda_driver.so.1" \
  "$classify" --weights "$dir/none.kckpt"
expect_error "--device cpu in the CUDA build" 2 "build //examples/fashion_mnist:fashion_mnist" "$trainer" --device cpu
echo "$failures failed"
[[ $failures == 0 ]]
