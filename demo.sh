#!/usr/bin/env bash
# Kiln's main demo. Until the graph compiler lands it shows the ahead-of-time path in miniature:
# MLIR → LLVM → x86-64 object, linked into a plain C app with gcc and run.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
bazel build //examples:aot_demo
out=$(mktemp -d)
bazel-bin/examples/aot_demo "$out/relu_affine.o"
gcc -O2 examples/aot_demo_app.c "$out/relu_affine.o" -o "$out/app"
"$out/app"
