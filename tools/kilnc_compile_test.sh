#!/bin/bash
# kilnc compile: outputs, and clear errors with non-zero exits for bad use.
set -uo pipefail
kilnc=$1 graph=$2
dir="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
expect() {  # expect CODE MESSAGE -- ARGS...
  local code=$1 message=$2
  shift 3
  "$kilnc" "$@" >"$dir/out" 2>"$dir/err"
  local got=$?
  if [[ $got -ne $code ]] || ! grep -qF -- "$message" "$dir/err" "$dir/out"; then
    echo "FAIL: kilnc $* -> exit $got (want $code), output:"; cat "$dir/out" "$dir/err"
    failures=$((failures + 1))
  fi
}
expect 0 "kilnc: wrote" -- compile "$graph" --out "$dir" --name tiny --emit obj,header,mlir,llvm,asm
for f in tiny.o tiny.h tiny.mlir tiny.ll tiny.s; do
  [[ -s "$dir/$f" ]] || { echo "FAIL: $f missing"; failures=$((failures + 1)); }
done
grep -q "linalg.generic" "$dir/tiny.mlir" || { echo "FAIL: tiny.mlir is not tensor-level MLIR"; failures=$((failures + 1)); }
grep -q "define void @kiln_tiny_run" "$dir/tiny.ll" || { echo "FAIL: tiny.ll lacks kiln_tiny_run"; failures=$((failures + 1)); }
# The object describes itself: kilnc inspect reads its section without running it, for any target.
expect 0 "model tiny (inference) in $dir/tiny.o" -- inspect "$dir/tiny.o"
expect 0 "target x86_64, ABI version 1" -- inspect "$dir/tiny.o"
expect 0 "runtime hooks:" -- inspect "$dir/tiny.o"
for t in aarch64-linux wasm32 cortex-m4; do
  expect 0 "kilnc: wrote" -- compile "$graph" --out "$dir" --name "tiny_${t//-/_}" --target "$t"
  expect 0 "target $t, ABI version 1" -- inspect "$dir/tiny_${t//-/_}.o"
done
printf '\x7fELF not really' > "$dir/fake.o"
expect 1 "not an object file" -- inspect "$dir/fake.o"
expect 0 "// -----// IR Dump After" -- compile "$graph" --out "$dir" --print-ir-after-all
expect 2 "--out DIR is required" -- compile "$graph"
expect 2 "compile takes one graph file" -- compile --out "$dir"
expect 2 "unknown flag '--frobnicate'" -- compile "$graph" --out "$dir" --frobnicate
expect 2 "--emit: unknown kind 'exe'" -- compile "$graph" --out "$dir" --emit obj,exe
expect 2 "--target: unknown target 'tpu' (known: x86_64, x86_64-native, aarch64-linux" -- compile "$graph" --out "$dir" --target tpu
expect 2 "--target: target 'cuda:90': '90' is not a GPU chip (sm_XX)" -- compile "$graph" --out "$dir" --target cuda:90
expect 2 "--target: target 'x86_64,fast=1': unknown option 'fast=1'" -- compile "$graph" --out "$dir" --target x86_64,fast=1
expect 2 "--emit ptx needs a GPU target (cuda)" -- compile "$graph" --out "$dir" --emit ptx
expect 2 "flag '--name' needs a value" -- compile "$graph" --out "$dir" --name
# A bad flag value is bad usage (2), checked before the graph is read.
expect 2 "not a C identifier" -- compile "$graph" --out "$dir" --name 9lives
expect 2 "not a C identifier" -- compile "$graph" --out "$dir" --name my-model
expect 2 "not a C identifier" -- compile "$dir/missing.pb" --out "$dir" --name my-model
expect 2 "unknown CPU 'pentium9000'" -- compile "$graph" --out "$dir" --cpu pentium9000
expect 2 "unknown CPU 'cortex-m0'" -- compile "$graph" --out "$dir" --target x86_64,cpu=cortex-m0
for t in x86_64 x86_64-native aarch64-linux wasm32 cortex-m4 cuda:sm_90; do
  expect 0 "$t" -- targets
done
expect 2 "targets takes no arguments" -- targets x86_64
expect 1 "No such file" -- compile "$dir/missing.pb" --out "$dir"
echo "not a graph" > "$dir/bad.pb"
expect 1 "bad.pb" -- compile "$dir/bad.pb" --out "$dir"
# The output directory is created, with its parents.
expect 0 "kilnc: wrote $dir/new/sub/dir/tiny.o" -- compile "$graph" --out "$dir/new/sub/dir" --name tiny
[[ -s "$dir/new/sub/dir/tiny.h" ]] || { echo "FAIL: --out did not create the directory"; failures=$((failures + 1)); }
touch "$dir/plain_file"
expect 1 "cannot create the output directory '$dir/plain_file/x'" -- compile "$graph" --out "$dir/plain_file/x"
chmod a-w "$dir/new/sub/dir"
if [[ ! -w "$dir/new/sub/dir" ]]; then  # root writes anyway
  expect 1 "cannot write" -- compile "$graph" --out "$dir/new/sub/dir" --name tiny
fi
chmod u+w "$dir/new/sub/dir"
# Bundles: one .kiln file for an inference graph, which kilnc inspect checks and describes.
expect 0 "kilnc: wrote $dir/b/tiny.kiln (1 signature(s) serving_default" -- compile "$graph" --out "$dir/b" --name tiny --emit bundle
expect 0 "signature serving_default: model tiny (inference)" -- inspect "$dir/b/tiny.kiln"
expect 0 "format version 1, 1 signature(s) for this machine" -- inspect "$dir/b/tiny.kiln"
head -c 1000 "$dir/b/tiny.kiln" > "$dir/b/cut.kiln"
expect 1 "$dir/b/cut.kiln: truncated or extended" -- inspect "$dir/b/cut.kiln"
expect 0 "kilnc: wrote $dir/b/tiny3.kiln (3 signature(s) serving_default" -- compile "$graph" --out "$dir/b" --name tiny3 --emit bundle --batch-sizes 1,2,8
expect 0 "3 signature(s) for this machine" -- inspect "$dir/b/tiny3.kiln"
expect 2 "--batch-sizes: '0' is not a new batch size" -- compile "$graph" --out "$dir" --emit bundle --batch-sizes 1,0
expect 2 "--batch-sizes: '2' is not a new batch size" -- compile "$graph" --out "$dir" --emit bundle --batch-sizes 2,2
expect 2 "--batch-sizes goes with --emit bundle" -- compile "$graph" --out "$dir" --batch-sizes 2
expect 2 "--emit bundle goes alone" -- compile "$graph" --out "$dir" --emit bundle,obj
expect 2 "--weights goes with --emit bundle" -- compile "$graph" --out "$dir" --weights "$dir/w.ckpt"
expect 1 "--weights: NOT_FOUND" -- compile "$graph" --out "$dir" --emit bundle --weights "$dir/w.ckpt"
# More signatures from other graphs (test/bundle's bundle_test runs a training step from one).
expect 0 "kilnc: wrote $dir/b/two.kiln (2 signature(s) serving_default, again" -- compile "$graph" --out "$dir/b" --name two --emit bundle --signatures "again=$graph"
expect 0 "signature again: model two_again (inference)" -- inspect "$dir/b/two.kiln"
expect 2 "--signatures goes with --emit bundle" -- compile "$graph" --out "$dir" --signatures "t=$graph"
for bad in "t" "=$graph" "t=" "serving_default=$graph" "a b=$graph" "t=$graph,t=$graph"; do
  expect 2 "is not NAME=GRAPH with a new name" -- compile "$graph" --out "$dir" --emit bundle --signatures "$bad"
done
expect 1 "cannot read graph file '$dir/none.pb'" -- compile "$graph" --out "$dir" --emit bundle --signatures "t=$dir/none.pb"
# Other usage errors: no command, an unknown command or flag.
expect 2 "no command given" --
expect 2 "unknown command 'compil'" -- compil "$graph"
expect 2 "unknown flag '--version2'" -- --version2
expect 0 "usage: kilnc" -- help
if [[ $failures -ne 0 ]]; then echo "$failures failures"; exit 1; fi
echo "kilnc compile: all checks passed"
