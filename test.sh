#!/usr/bin/env bash
# Runs Kiln's whole test suite. Extra arguments go to `bazel test` (e.g. ./test.sh --config=asan).
# Ends with one line "N passed, N failed": Catch2 test cases and lit tests summed over all targets,
# a target that crashed, timed out or failed to build counted as failed. Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
./setup.sh || exit 1

# Targets tagged "cuda" need the CUDA toolkit (ptxas, libdevice; not a GPU). Without it they are
# neither built nor run nor counted, and this says so.
filters=() exclude=""
if [ ! -x /usr/local/cuda/bin/ptxas ]; then
  echo "test.sh: no CUDA toolkit at /usr/local/cuda: tests tagged 'cuda' are not run (nor counted)" >&2
  filters=(--test_tag_filters=-cuda --build_tag_filters=-cuda) exclude=" except attr(tags, cuda, //...)"
fi

# Formatting is checked outside Bazel (it reads the git tree), and counts as one test.
test/format_check.sh
format_rc=$?

log=$(mktemp)
bazel test --keep_going --test_summary=short "${filters[@]}" "$@" //... 2>&1 | tee "$log"
bazel_rc=${PIPESTATUS[0]}

# Kiln from outside its tree (test/install/run.sh): installed, then docs/using-kiln.md's project built
# with CMake, make, g++ and from another Bazel workspace; each counts as one test. It installs the
# default build, so it runs only when no flags were given (e.g. not under --config=asan).
install_checks=()
if [ $# -eq 0 ]; then
  install_results=$(mktemp)
  test/install/run.sh "$install_results"
  while read -r name rc; do
    install_checks+=(--check "test/install/run.sh:$name=$rc")
  done <"$install_results"
  rm -f "$install_results"
else
  echo "test.sh: flags given: the install tests (test/install/run.sh) are not run (nor counted)" >&2
fi

targets=$(bazel query --noshow_progress "tests(//...) except attr(tags, manual, //...)$exclude" 2>/dev/null)
testlogs=$(bazel info bazel-testlogs "$@" 2>/dev/null)
echo
# Parts of tests that could not run here say so in their logs ("SKIPPED: ..."); so does this.
grep -rh "^SKIPPED:" "$testlogs" --include=test.log 2>/dev/null | sort -u
python3 test/summarize.py --check "test/format_check.sh=$format_rc" "${install_checks[@]}" "$bazel_rc" "$log" "$testlogs" $targets
rc=$?
rm -f "$log"
exit $rc
