#!/bin/bash
# Gradients of the MLP and CNN training graphs: Kiln's interpreter vs PyTorch autograd, float64.
set -euo pipefail
dir="${TEST_TMPDIR:-$(mktemp -d)}"
for model in mlp cnn; do
  test/torch_compare/export_gradients "$model" "$dir/$model.bin"
  # Debian's python3 (with python3-torch), not whatever python3 is first on PATH.
  /usr/bin/python3 test/torch_compare/torch_check.py "$model" "$dir/$model.bin"
done
