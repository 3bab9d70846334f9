# Shell helpers of the Fashion-MNIST sh_tests (sourced). Each expects $dir (scratch) and counts
# failures in $failures.

check() {  # check NAME COMMAND...: the command must succeed
  local name=$1; shift
  if "$@" > "$dir/out.txt" 2>&1; then echo "ok: $name"; else echo "FAILED: $name"; cat "$dir/out.txt"; failures=$((failures + 1)); fi
}

expect_error() {  # expect_error NAME EXIT_CODE MESSAGE COMMAND...: fails with that code and message
  local name=$1 code=$2 message=$3; shift 3
  "$@" > "$dir/out.txt" 2>&1
  local got=$?
  if [[ $got == "$code" ]] && grep -qF -- "$message" "$dir/out.txt"; then
    echo "ok: $name"
  else
    echo "FAILED: $name (exit $got, expected $code and '$message')"; cat "$dir/out.txt"; failures=$((failures + 1))
  fi
}
