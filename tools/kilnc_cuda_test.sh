#!/bin/bash
# kilnc compile --target=cuda (needs the CUDA toolkit, not a GPU): an object with the host code and
# the kernels' PTX embedded, the C ABI header, and PTX that ptxas accepts for the chosen chip.
set -uo pipefail
kilnc=$1 graph=$2 mlp=$3  # mlp: bench's W1 b128 (matmuls with bias and ReLU epilogues)
dir="${TEST_TMPDIR:-$(mktemp -d)}"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
for chip in sm_90 sm_80; do
  "$kilnc" compile "$graph" --out "$dir" --name mlp --target "cuda:$chip" --emit obj,header,ptx >"$dir/out" 2>&1 ||
    { fail "kilnc --target cuda:$chip"; cat "$dir/out"; continue; }
  nm "$dir/mlp.o" | grep -q " T kiln_mlp_run$" || fail "$chip: mlp.o lacks kiln_mlp_run"
  nm "$dir/mlp.o" | grep -q " U kiln_rt_cuda_launch$" || fail "$chip: mlp.o does not launch through the runtime"
  # The kernels are embedded as cubins for the chip (ELF images inside the object), not PTX.
  cubins=$(grep -o -a $'\x7fELF' "$dir/mlp.o" | wc -l)
  [[ $cubins -ge 2 ]] || fail "$chip: mlp.o embeds no cubin"
  grep -q -a "^.target $chip" "$dir/mlp.o" && fail "$chip: mlp.o embeds PTX"
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
# Matmuls become cuBLASLt calls (bias and ReLU fused), and --gpu-precision is the calls' last
# parameter (runtime/cuda.h: 0 f32, 1 tf32, 2 bf16).
for p in f32:0 tf32:1 bf16:2; do
  "$kilnc" compile "$mlp" --out "$dir" --name w1 --target cuda --gpu-precision "${p%:*}" --emit obj,mlir >"$dir/out" 2>&1 ||
    { fail "--gpu-precision ${p%:*}"; cat "$dir/out"; continue; }
  nm "$dir/w1.o" | grep -q " U kiln_rt_cuda_matmul_bias$" || fail "w1.o does not call cuBLASLt"
  calls=$(grep -c "arith.constant dense<\[128, [0-9]*, [0-9]*, 0, 0, [01], ${p#*:}\]> : tensor<7xi64>" "$dir/w1.mlir")
  [[ $calls == 3 ]] || fail "--gpu-precision ${p%:*}: $calls of the 3 matmuls' parameters end with ${p#*:}"
done
"$kilnc" compile "$graph" --out "$dir" --gpu-precision tf32 >"$dir/out" 2>&1
[[ $? == 2 ]] && grep -q "unknown option 'precision=tf32'" "$dir/out" || fail "--gpu-precision without --target cuda"
"$kilnc" compile "$graph" --out "$dir" --target cuda --gpu-precision fp8 >"$dir/out" 2>&1
[[ $? == 2 ]] && grep -q "'fp8' is not f32, tf32 or bf16" "$dir/out" || fail "--gpu-precision fp8"
if [[ $failures -ne 0 ]]; then echo "$failures failures"; exit 1; fi
echo "kilnc --target cuda: all checks passed"
