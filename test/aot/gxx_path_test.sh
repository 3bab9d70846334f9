#!/bin/bash
# The path without a build system: kilnc compile, then the g++ commands of docs/aot.md (read from the
# page, so they cannot drift), against Bazel's install tree (//install:tree) as $KILN: shared, then
# static. Each app trains, saves and reloads a checkpoint, and is compared with the interpreter; it
# must depend on no MLIR, LLVM, protobuf or Abseil library, and the static one on no Kiln library.
set -euo pipefail
absolute() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
make_regression=$(absolute "$1") app=$(absolute "$3") compare=$(absolute "$4")
doc=$(absolute "$5") doc_files=$(absolute "$6")
export KILN
KILN=$(cd "$2" && pwd)
export PATH="$KILN/bin:$PATH"
dir="${TEST_TMPDIR:-$(mktemp -d)}"
"$make_regression" "$dir"
cp "$app" "$dir/app.cc"
cp "$dir/regression.pb" "$dir/model.pb"
heading="# Compiling a graph ahead of time"
for n in 1 2; do
  python3 "$doc_files" "$doc" --block "$heading" "$n" > "$dir/build$n.sh"
done
cd "$dir"
for n in 1 2; do
  echo "--- docs/aot.md, block $n:"; cat "build$n.sh"
  if [[ $n == 2 ]]; then rm -f app; fi
  bash -euo pipefail "build$n.sh"
  ./app inputs.bin "model$n.ckpt" > actual.txt
  /usr/bin/python3 "$compare" actual.txt expected.txt 1e-5
  deps=$(ldd app | awk '{print $1}' | tr '\n' ' ')
  echo "ldd: $deps"
  if grep -qiE 'mlir|llvm|protobuf|absl' <<<"$deps"; then
    echo "the embedded app links a compile-time library" >&2
    exit 1
  fi
  if [[ $n == 2 ]] && grep -q libkiln <<<"$deps"; then
    echo "the statically linked app needs a Kiln library" >&2
    exit 1
  fi
done
