#!/usr/bin/env bash
# Builds a libFuzzer target (NAME_fuzzer.cc: proto/graph_fuzzer.cc, runtime/bundle_fuzzer.cc) with
# clang++-22, libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer, outside Bazel's gcc
# toolchain, and runs it. Run through Bazel, which supplies the sources (generated ones included,
# e.g. the protoc-generated proto/graph.pb.cc) as runfiles:
#
#   bazel test //proto:graph_fuzz_test                               # the ~30 s smoke run
#   bazel run //proto:graph_fuzz_test -- -runs=-1 -seed=0 -max_total_time=3600        # longer: see docs/fuzzing.md
#
# Usage: fuzz_build_and_run.sh --name NAME --sources FILE [--libs "PKG..."] [--link "FLAG..."]
#            [--kilnc FILE] [--dict FILE] [SEED...] [-- LIBFUZZER_FLAGS...]
#   --name NAME      the target: NAME_fuzzer.cc holds LLVMFuzzerTestOneInput
#   --sources FILE   paths (relative to the working directory) of the .cc files to compile and of the
#                    headers they include, one per line
#   --libs "PKG..."  pkg-config packages to link (the graph fuzzer: Abseil's and protobuf)
#   --link "FLAG..." other link flags (e.g. -ldl)
#   --kilnc FILE     kilnc, to add the binary form of each text (.pbtxt) seed
#   --dict FILE      a libFuzzer dictionary
#   SEED...          seed inputs
# Everything after "--" goes to libFuzzer; a later flag overrides an earlier one, so flags given to
# `bazel run` override the test's fixed seed and run count.
#
# Work directory: $TEST_TMPDIR under `bazel test`. Under `bazel run` (or by hand) $KILN_FUZZ_DIR,
# default /tmp/kiln-NAME-fuzz, which keeps the corpus, and the binary while its sources are
# unchanged, between runs. Inputs that crash go to $TEST_UNDECLARED_OUTPUTS_DIR (zipped into
# bazel-testlogs/<package>/NAME_fuzz_test/test.outputs/outputs.zip) under `bazel test`, else to
# $KILN_FUZZ_DIR/crashes/.
set -euo pipefail

CXX=/usr/bin/clang++-22
PKG_CONFIG=/usr/bin/pkg-config
SANITIZE=address,undefined
CXXFLAGS=(-std=c++17 -O1 -gline-tables-only -fno-omit-frame-pointer -fsanitize=$SANITIZE
          -fno-sanitize-recover=all -I. -Wno-deprecated-declarations)

name=fuzz
say() { echo "${name}_fuzz: $*"; }
die() { echo "${name}_fuzz: error: $*" >&2; exit 1; }

sources="" kilnc="" dict="" pkgs="" link=""
seeds=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --name) name=$2; shift 2 ;;
    --sources) sources=$2; shift 2 ;;
    --libs) pkgs=$2; shift 2 ;;
    --link) link=$2; shift 2 ;;
    --kilnc) kilnc=$2; shift 2 ;;
    --dict) dict=$2; shift 2 ;;
    --) shift; break ;;
    -*) die "unknown flag $1" ;;
    *) seeds+=("$1"); shift ;;
  esac
done
fuzzer_args=("$@")

[[ -n $sources && -f $sources ]] || die "--sources FILE is required (run through bazel: see docs/fuzzing.md)"
[[ -x $CXX ]] || die "$CXX not found: install clang-22 and libclang-rt-22-dev (./setup.sh)"
resource_dir=$("$CXX" -print-resource-dir)
ls "$resource_dir"/lib/*/libclang_rt.fuzzer*.a >/dev/null 2>&1 ||
  die "libFuzzer runtime not found under $resource_dir: install libclang-rt-22-dev (./setup.sh)"

# `bazel run` sets BUILD_WORKING_DIRECTORY (and a TEST_TMPDIR that other Bazel commands may clean).
under_test=
[[ -n ${TEST_TMPDIR:-} && -z ${BUILD_WORKING_DIRECTORY:-} ]] && under_test=1
if [[ -n $under_test ]]; then
  work=$TEST_TMPDIR/${name}_fuzz
  artifacts=${TEST_UNDECLARED_OUTPUTS_DIR:-$work}
else
  work=${KILN_FUZZ_DIR:-/tmp/kiln-$name-fuzz}
  artifacts=$work/crashes
fi
mkdir -p "$work/obj" "$work/corpus" "$artifacts"
export TMPDIR=$work

# ---- Build (skipped when the sources, flags and compiler are those of the last build here).
mapfile -t files <"$sources"
srcs=()
for f in "${files[@]}"; do
  [[ -f $f ]] || die "source $f (from $sources) not found"
  [[ $f == *.cc ]] && srcs+=("$f")
done
stamp=$( { "$CXX" --version; echo "${CXXFLAGS[*]} $pkgs $link"; cat "$0" "${files[@]}"; } | sha256sum | cut -d' ' -f1)
binary=$work/${name}_fuzzer
if [[ -x $binary && -f $work/stamp && $(cat "$work/stamp") == "$stamp" ]]; then
  say "sources unchanged: reusing $binary"
else
  start=$SECONDS
  rm -f "$work/obj/"*.o "$work/obj/FAILED" "$work/stamp"
  jobs=$(nproc)
  for src in "${srcs[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n || true; done
    obj=$work/obj/${src//\//_}.o
    if [[ $src == */${name}_fuzzer.cc ]]; then coverage=-fsanitize=fuzzer; else coverage=-fsanitize=fuzzer-no-link; fi
    { "$CXX" "${CXXFLAGS[@]}" "$coverage" -c "$src" -o "$obj" 2>"$obj.log" || touch "$work/obj/FAILED"; } &
  done
  wait
  if [[ -e $work/obj/FAILED ]]; then
    cat "$work"/obj/*.log >&2
    die "compilation failed"
  fi
  libs=()
  # shellcheck disable=SC2086  # lists of words
  [[ -n $pkgs ]] && mapfile -t libs < <("$PKG_CONFIG" --libs $pkgs | tr ' ' '\n' | grep -v '^$')
  # shellcheck disable=SC2206
  libs+=($link)
  "$CXX" -fsanitize=fuzzer,$SANITIZE "$work"/obj/*.o "${libs[@]}" -lpthread -o "$binary"
  echo "$stamp" >"$work/stamp"
  say "built ${#srcs[@]} sources with $CXX in $((SECONDS - start)) s"
fi

# ---- Seeds: the given files, and the binary form of the text ones.
seed_dir=$work/seeds
rm -rf "$seed_dir"
mkdir -p "$seed_dir"
for s in "${seeds[@]}"; do
  seed=$(basename "$s")
  cp "$s" "$seed_dir/$seed"
  if [[ -n $kilnc && $seed == *.pbtxt ]]; then
    "$kilnc" convert "$s" "$seed_dir/${seed%.pbtxt}.kiln" || die "kilnc could not convert seed $s"
  fi
done

# ---- Run. New inputs go to $work/corpus; the seeds are read only.
# A fixed seed and run count make the CI run reproducible (a failure replays the same way); the time
# cap only guards a slow machine. Arguments after `--` override these (later flags win).
args=(-seed=1 -runs=400000 -max_total_time=60 -timeout=20 -rss_limit_mb=2048 -print_final_stats=1
      "-artifact_prefix=$artifacts/")
[[ -n $dict ]] && args+=("-dict=$dict")
say "running $binary ${args[*]} ${fuzzer_args[*]}"
log=$work/fuzz.log
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
set +e
if [[ -n $under_test ]]; then
  # Under `bazel test` only the end of libFuzzer's progress output goes to the test log.
  "$binary" "${args[@]}" "${fuzzer_args[@]}" "$work/corpus" "$seed_dir" >"$log" 2>&1
  rc=$?
  if [[ $rc -ne 0 ]]; then tail -n 150 "$log"; else tail -n 8 "$log"; fi
else
  "$binary" "${args[@]}" "${fuzzer_args[@]}" "$work/corpus" "$seed_dir" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
fi
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
seconds=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
if [[ $rc -ne 0 ]]; then
  say "FAILED: the fuzzer exited with $rc after ${runs:-?} runs; reproducer in $artifacts/" >&2
  exit 1
fi
say "${runs:-?} runs in ${seconds:-?} s, no crash; corpus $(ls "$work/corpus" | wc -l) inputs in $work/corpus"
