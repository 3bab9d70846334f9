#!/bin/bash
# kilnc compile --target=cuda (needs the CUDA toolkit, not a GPU): an object with the host code and
# the kernels' PTX embedded, the C ABI header, and PTX that ptxas accepts for the chosen chip.
set -uo pipefail
kilnc=$1 graph=$2
dir="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
for chip in sm_90 sm_80; do
  "$kilnc" compile "$graph" --out "$dir" --name mlp --target "cuda:$chip" --emit obj,header,ptx >"$dir/out" 2>&1 ||
    { fail "kilnc --target cuda:$chip"; cat "$dir/out"; continue; }
  nm "$dir/mlp.o" | grep -q " T kiln_mlp_run$" || fail "$chip: mlp.o lacks kiln_mlp_run"
  nm "$dir/mlp.o" | grep -q " U kiln_rt_cuda_launch$" || fail "$chip: mlp.o does not launch through the runtime"
  grep -q "void kiln_mlp_run(" "$dir/mlp.h" || fail "$chip: mlp.h lacks kiln_mlp_run"
  grep -q "for CUDA ($chip)" "$dir/mlp.h" || fail "$chip: mlp.h does not name the target"
  grep -q ".target $chip" "$dir/mlp.ptx" || fail "$chip: mlp.ptx is not for $chip"
  # One PTX module per kernel, each after a "// ---- kiln kernel module NAME" line.
  rm -f "$dir"/module_*.ptx
  awk -v d="$dir" '/^\/\/ ---- kiln kernel module /{n++} n{print > (d "/module_" n ".ptx")}' "$dir/mlp.ptx"
  modules=$(ls "$dir"/module_*.ptx 2>/dev/null | wc -l)
  [[ $modules -ge 3 ]] || fail "$chip: $modules kernel modules in mlp.ptx"
  for m in "$dir"/module_*.ptx; do
    /usr/local/cuda/bin/ptxas -arch="$chip" "$m" -o /dev/null || fail "$chip: ptxas rejects $(basename "$m")"
  done
  # The header compiles.
  echo '#include "mlp.h"
int main() { return kiln_generated::Mlp::kArenaBytes > 0 ? 0 : 1; }' > "$dir/main.cc"
  g++ -std=c++17 -I"$dir" -I. -c "$dir/main.cc" -o "$dir/main.o" || fail "$chip: mlp.h does not compile"
done
if [[ $failures -ne 0 ]]; then echo "$failures failures"; exit 1; fi
echo "kilnc --target cuda: all checks passed"
