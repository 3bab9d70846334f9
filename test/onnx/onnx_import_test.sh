#!/bin/bash
# ONNX import end to end: models exported by torch (export_models.py), imported by `kilnc import`,
# run on the interpreter and compiled into a bundle (onnx_check), both against ONNX Runtime's
# outputs (ort_run.py, the test venv's onnxruntime); `kilnc compile` takes a model directly; an
# unsupported op and an old opset are errors naming them.
set -uo pipefail
kilnc=$1 export_models=$2 ort_run=$3 check=$4
dir="${TEST_TMPDIR:-$(mktemp -d)}"
venv_python=/opt/kiln-venv/bin/python
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }
/usr/bin/python3 "$export_models" "$dir" 2>/dev/null || { echo "FAILED: export"; exit 1; }
"$venv_python" -c "import onnxruntime" || { echo "FAILED: no onnxruntime in $venv_python: run ./setup.sh"; exit 1; }
for model in mlp ops cnn encoder resnet18; do
  inputs=$dir/inputs.bin
  [[ $model == encoder ]] && inputs=$dir/ids.bin
  [[ $model == resnet18 ]] && inputs=$dir/image.bin
  "$venv_python" "$ort_run" "$dir/$model.onnx" "$inputs" "$dir/$model.expected" || fail "ONNX Runtime on $model"
  "$kilnc" import "$dir/$model.onnx" --out "$dir/g" --batch 4 >"$dir/out" 2>&1 || { fail "import $model: $(cat "$dir/out")"; continue; }
  grep -q "kilnc: wrote $dir/g/$model.pb" "$dir/out" || fail "import $model said: $(cat "$dir/out")"
  "$kilnc" compile "$dir/g/$model.pb" --out "$dir/b" --emit bundle >/dev/null 2>"$dir/err" || fail "compile $model: $(cat "$dir/err")"
  "$check" "$dir/g/$model.pb" "$dir/b/$model.kiln" "$inputs" "$dir/$model.expected" || failures=$((failures + 1))
done
# kilnc compile takes the ONNX model itself (its symbolic batch as 1, other sizes by --batch-sizes).
if "$kilnc" compile "$dir/mlp.onnx" --out "$dir/direct" --emit bundle --batch-sizes 1,4 >"$dir/out" 2>&1 &&
  grep -q "2 signature(s) serving_default" "$dir/out"; then
  echo "ok: kilnc compile mlp.onnx --emit bundle --batch-sizes 1,4"
else
  fail "kilnc compile mlp.onnx: $(cat "$dir/out")"
fi
expect() {  # expect CODE MESSAGE ARGS...
  local code=$1 message=$2; shift 2
  "$kilnc" "$@" >"$dir/out" 2>&1
  local rc=$?
  if [[ $rc -eq $code ]] && grep -qF -- "$message" "$dir/out"; then
    echo "ok: kilnc $* → $code, '$message'"
  else
    fail "kilnc $* → $rc: $(head -3 "$dir/out")"
  fi
}
expect 1 "ONNX node '/NonZero' (NonZero, opset 14): not supported" import "$dir/unsupported.onnx" --out "$dir/g"
expect 1 "opset 11; Kiln imports opset 13 and newer" import "$dir/old_opset.onnx" --out "$dir/g"
expect 1 "cannot read ONNX model '$dir/none.onnx'" import "$dir/none.onnx" --out "$dir/g"
printf 'garbage\x01\x02' > "$dir/garbage.onnx"
expect 1 "not an ONNX model" import "$dir/garbage.onnx" --out "$dir/g"
expect 2 "--batch: '0' is not a positive size" import "$dir/mlp.onnx" --out "$dir/g" --batch 0
expect 2 "import takes one ONNX model" import --out "$dir/g"
echo "$failures failed"
exit $((failures > 0))
