#!/usr/bin/env bash
# Kiln used from outside its tree, as docs/using-kiln.md tells a new user: installed by the page's
# command, then the page's project (read from the page) built four ways in directories outside the
# tree — CMake (the page's own commands), pkg-config + make, plain g++, and another Bazel workspace —
# each app training and checking that its loss fell. Also a static link of the builder library that
# only loads and interprets a graph file. The page's prefix ($HOME/kiln) becomes a temporary one.
#
# Usage: test/install/run.sh RESULTS_FILE
# Writes one line "NAME EXIT_CODE" per check to RESULTS_FILE (test.sh counts each as a test), and
# exits non-zero if any failed. The Bazel workspace lives under ~/.cache/kiln-install-test so that
# its output base (Kiln's compiler, built from source) is reused by the next run.
set -uo pipefail
cd "$(dirname "$0")/../.."
kiln=$(pwd)
results=$1
: >"$results"
work=$(mktemp -d /tmp/kiln-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
prefix=$work/kiln
doc=docs/using-kiln.md
failed=0

# The page's code block under a heading, with its prefix replaced by this test's.
page_block() { python3 testing/doc_files.py "$doc" --block "$@" | sed "s|\$HOME/kiln|$prefix|g"; }

# check NAME LOG COMMAND...: runs COMMAND with its output in LOG and records the result.
check() {
  local name=$1 log=$2
  shift 2
  local start=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  echo "$name $rc" >>"$results"
  if [[ $rc -eq 0 ]]; then
    echo "install test $name: PASSED ($((SECONDS - start)) s)"
  else
    echo "install test $name: FAILED (exit $rc, $((SECONDS - start)) s); the end of $log:"
    tail -40 "$log" | sed 's/^/    /'
    failed=1
  fi
}

# The app's output says its loss fell (it also exits 1 otherwise) and it predicted; it links no
# compile-time library.
app_ok() {  # DIR
  local out
  out=$(cd "$1" && ./app) || { echo "$out"; echo "app failed"; return 1; }
  echo "$out"
  grep -qE '^loss [0-9.]+ -> [0-9.]+$' <<<"$out" || { echo "no loss line"; return 1; }
  grep -q 'predicted' <<<"$out" || { echo "no prediction"; return 1; }
  [[ -s $1/regressor.ckpt ]] || { echo "no checkpoint"; return 1; }
  no_compiler_libraries "$1/app"
}

no_compiler_libraries() {  # BINARY
  local deps
  deps=$(ldd "$1" | awk '{print $1}' | tr '\n' ' ')
  echo "ldd $(basename "$1"): $deps"
  if grep -qiE 'mlir|llvm' <<<"$deps"; then
    echo "$1 links MLIR or LLVM"
    return 1
  fi
}

install_kiln() {
  local command
  command=$(page_block "## 1. Install Kiln") || return 1
  echo "+ $command"
  bash -euo pipefail -c "$command" && [[ -x $prefix/bin/kilnc ]]
}

# The page's project with everything of Kiln's linked statically (section 3's last sentence): the
# app and make_graphs need no Kiln shared library.
cmake_static_path() {
  local dir=$work/cmake_static
  mkdir -p "$dir" && cp "$work/project"/{make_graphs.cc,app.cc} "$dir/" || return 1
  sed -e 's/GRAPH \(regressor[a-z_]*\.pb\))/GRAPH \1 STATIC_RUNTIME)/' \
    -e 's/Kiln::graph)/Kiln::graph_static)/' -e 's/Kiln::checkpoint)/Kiln::checkpoint_static)/' \
    "$work/project/CMakeLists.txt" >"$dir/CMakeLists.txt"
  grep -c "STATIC_RUNTIME\|_static" "$dir/CMakeLists.txt" | grep -qx 4 || { cat "$dir/CMakeLists.txt"; return 1; }
  (cd "$dir" && cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix" && cmake --build build) || return 1
  app_ok "$dir/build" || return 1
  if ldd "$dir/build/app" "$dir/build/make_graphs" | grep libkiln; then
    echo "linked statically, yet a Kiln shared library is needed"
    return 1
  fi
}

# kiln_add_aot_library's bad arguments fail at configure time, naming the problem.
cmake_errors_path() {
  local dir=$work/cmake_errors args message
  while IFS='|' read -r args message; do
    rm -rf "$dir" && mkdir -p "$dir" || return 1
    printf 'cmake_minimum_required(VERSION 3.16)\nproject(bad CXX)\nfind_package(Kiln REQUIRED)\nkiln_add_aot_library(%s)\n' \
      "$args" >"$dir/CMakeLists.txt"
    if (cd "$dir" && cmake -S . -B build -DCMAKE_PREFIX_PATH="$prefix") >"$dir/log" 2>&1; then
      echo "kiln_add_aot_library($args) configured"
      return 1
    fi
    grep -qF "$message" "$dir/log" || { cat "$dir/log"; echo "no '$message'"; return 1; }
    echo "kiln_add_aot_library($args): $message"
  done <<'EOF'
my-model GRAPH m.pb|name 'my-model' is not a C identifier
model|GRAPH <file> is required
model GRAPH m.pb TARGET wasm32|target 'wasm32' does not run on this
model GRAPH m.pb SHARED|unknown arguments SHARED
EOF
}

cmake_path() {
  local dir=$work/cmake command
  mkdir -p "$dir" && cp "$work/project"/{make_graphs.cc,app.cc,CMakeLists.txt} "$dir/" || return 1
  command=$(page_block "## 3. Build and run") || return 1
  echo "+ $command"
  (cd "$dir" && bash -euo pipefail -c "$command") || return 1
  app_ok "$dir/build"
}

make_path() {
  local dir=$work/make
  mkdir -p "$dir" && cp "$work/project"/{make_graphs.cc,app.cc,Makefile} "$dir/" || return 1
  (cd "$dir" && PATH="$prefix/bin:$PATH" PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make app) || return 1
  app_ok "$dir"
}

# The builder library linked statically, by a program that names no op: it loads the training graph
# and runs it on the interpreter.
static_graph_path() {
  local dir=$work/make flags
  flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs kiln-graph-static) || return 1
  # shellcheck disable=SC2086  # flags are words
  g++ -std=c++17 -O2 test/install/interpret.cc -o "$dir/interpret" $flags || return 1
  if ldd "$dir/interpret" | grep -q libkiln; then
    echo "interpret links a Kiln shared library"
    return 1
  fi
  "$dir/interpret" "$dir/regressor_train.pb"
}

gxx_path() {
  local dir=$work/gxx command
  mkdir -p "$dir" && cp "$work/project"/{make_graphs.cc,app.cc} "$dir/" || return 1
  command=$(page_block "### Plain g++") || return 1
  echo "+ $command"
  (cd "$dir" && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" bash -euo pipefail -c "$command") || return 1
  app_ok "$dir"
}

bazel_path() {
  local dir=$HOME/.cache/kiln-install-test/bazel command
  mkdir -p "$dir" && rm -f "$dir/regressor.ckpt" || return 1
  cp "$work/project"/{make_graphs.cc,app.cc,BUILD,.bazelrc} "$dir/" || return 1
  sed "s|/path/to/kiln|$kiln|" "$work/project/WORKSPACE" >"$dir/WORKSPACE"
  # Objects are shared with Kiln's own builds' cache (.bazelrc), so a fresh clone's run is quick.
  echo "build --disk_cache=~/.cache/kiln-bazel-disk" >>"$dir/.bazelrc"
  command=$(page_block "### Bazel, from another workspace" 4) || return 1
  echo "+ $command"
  local rc=0
  (cd "$dir" && bash -euo pipefail -c "$command" && cp bazel-bin/app app) || rc=1
  [[ $rc -eq 0 ]] && { app_ok "$dir" || rc=1; }
  (cd "$dir" && bazel shutdown)  # its server would hold a GiB until it times out
  return $rc
}

check install "$work/install.log" install_kiln
if [[ $failed -ne 0 ]]; then
  for name in cmake cmake_static cmake_errors make static_graph gxx bazel; do echo "$name 1" >>"$results"; done
  echo "install test: the install failed; the paths were not tried"
  exit 1
fi
python3 testing/doc_files.py "$doc" --files "$work/project" || exit 1
check cmake "$work/cmake.log" cmake_path
check cmake_static "$work/cmake_static.log" cmake_static_path
check cmake_errors "$work/cmake_errors.log" cmake_errors_path
check make "$work/make.log" make_path
check static_graph "$work/static_graph.log" static_graph_path
check gxx "$work/gxx.log" gxx_path
check bazel "$work/bazel.log" bazel_path
exit $failed
