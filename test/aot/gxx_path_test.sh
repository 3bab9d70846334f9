#!/bin/bash
# The non-Bazel path: kilnc compile, then plain g++ against the object and header (the commands in
# docs/aot.md), then run the app and compare with the interpreter. Also checks that the app depends
# on no MLIR, LLVM, protobuf or Abseil library.
set -euo pipefail
make_regression=$1 kilnc=$2 app=$3 compare=$4 runtime_cc=$5
kiln_root=$(cd "$(dirname "$runtime_cc")/.." && pwd)  # the directory holding runtime/
dir="${TEST_TMPDIR:-$(mktemp -d)}"
"$make_regression" "$dir"
"$kilnc" compile "$dir/regression.pb" --out "$dir"
g++ -std=c++17 -O2 -I"$dir" -I"$kiln_root" "$app" "$dir/regression.o" "$kiln_root"/runtime/kiln_runtime.cc "$kiln_root"/runtime/crc32c.cc \
  "$kiln_root"/runtime/dnnl_kernels.cc -fopenmp -ldnnl -lm -pthread -o "$dir/app"
"$dir/app" "$dir/inputs.bin" > "$dir/actual.txt"
/usr/bin/python3 "$compare" "$dir/actual.txt" "$dir/expected.txt" 1e-5
if ldd "$dir/app" | grep -iE 'mlir|llvm|protobuf|absl'; then
  echo "the embedded app links a compile-time library" >&2
  exit 1
fi
echo "ldd: $(ldd "$dir/app" | awk '{print $1}' | tr '\n' ' ')"
