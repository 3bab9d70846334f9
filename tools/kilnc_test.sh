#!/usr/bin/env bash
# Runs kilnc on good and bad input: output contents and exit codes (0 ok, 1 bad file, 2 usage).
# Usage: kilnc_test.sh KILNC MLP_PBTXT TINY_PBTXT
set -uo pipefail
kilnc=$1 mlp=$2 tiny=$3
tmp=${TEST_TMPDIR:-$(mktemp -d)}
checks=0 failures=0

fail() {
  echo "FAIL: $*" >&2
  echo "--- stdout:" >&2; cat "$tmp/out" >&2
  echo "--- stderr:" >&2; cat "$tmp/err" >&2
  failures=$((failures + 1))
}

# run EXPECTED_EXIT ARGS...: runs kilnc, output in $tmp/out and $tmp/err.
run() {
  local want=$1; shift
  checks=$((checks + 1))
  "$kilnc" "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  [[ $got == "$want" ]] || fail "kilnc $*: exit $got, expected $want"
}
# has FILE(out|err) FIXED_STRING
has() {
  checks=$((checks + 1))
  grep -qF -- "$2" "$tmp/$1" || fail "expected $1 to contain: $2"
}
# has_re FILE(out|err) EXTENDED_REGEX
has_re() {
  checks=$((checks + 1))
  grep -qE -- "$2" "$tmp/$1" || fail "expected $1 to match: $2"
}

# ---- Usage errors: exit 2, message and usage on stderr.
run 2
has err "kilnc: no command given"
has err "usage: kilnc COMMAND"
run 2 frobnicate "$mlp"
has err "kilnc: unknown command 'frobnicate'"
run 2 --verbose
has err "unknown flag '--verbose'"
run 2 inspect --bogus "$mlp"
has err "kilnc: inspect: unknown flag '--bogus'"
run 2 inspect
has err "inspect takes one graph file"
run 2 inspect "$mlp" "$tiny"
has err "inspect takes one graph file"
run 2 dot "$mlp" --rankdir
has err "flag '--rankdir' needs a value"
run 2 dot --rankdir=XY "$mlp"
has err "--rankdir must be TB or LR"
run 2 convert "$mlp"
has err "convert takes an input and an output file"
run 0 help
has out "usage: kilnc COMMAND"

# ---- Bad files: exit 1, the reason on stderr.
run 1 inspect "$tmp/does-not-exist.kiln"
has err "cannot read graph file '$tmp/does-not-exist.kiln'"
printf '\xff\xff\xff\x0fgarbage' >"$tmp/garbage.kiln"
run 1 inspect "$tmp/garbage.kiln"
has err "$tmp/garbage.kiln: malformed graph file"
printf 'version: 1\nnodes { name: "r" op: "Relu" inputs: "nope" }\n' >"$tmp/dangling.pbtxt"
run 1 dot "$tmp/dangling.pbtxt"
has err "Relu 'r': input 0: 'nope' refers to a missing node"
printf 'version: 1\nnodes { name: "r" op: "Relu" inputs: "nope"\n' >"$tmp/truncated.pbtxt"
run 1 inspect "$tmp/truncated.pbtxt"
has err "malformed text graph file: line 3"
run 1 compile "$mlp" --out "$tmp" --emit bundle
has err "serving_default is a training step (compile the model's inference graph, and name the training step with --signatures train_step=GRAPH)"
run 1 convert "$mlp" "$tmp/no/such/dir/out.kiln"
has err "cannot write '$tmp/no/such/dir/out.kiln'"

# ---- inspect
run 0 inspect "$mlp"
has out "15 nodes, 2 outputs"
has_re out "^  name +op +outputs +source$"
has_re out "^  dense/Relu +Relu +f32\[8,3\] +mlp\.cc:20$"
has_re out "^  dense/w +Variable +f32\[4,3\] +mlp\.cc:14$"
has_re out "^  Sub +2$"
has_re out "^  Placeholder +3$"
has out "  y = dense/Relu f32[8,3]"
has out "parameters: 15 in 2 Variables listed as training parameters"
has out "training: loss loss, optimizer sgd, learning rate lr, 0 slots, 1 updates"
# Mul 96 + ReduceSum 96 (input elements) + Add, Relu, Sub, Square, ReduceMean 24 each + Sub 3.
has out "FLOPs (estimate, one run of every node): 315"
run 0 inspect --no-nodes "$tiny"
checks=$((checks + 1))
if grep -q "source" "$tmp/out"; then fail "--no-nodes printed the node table"; fi
has out "parameters: 13 in 2 Variables (all of them: the graph lists no training parameters)"
has out "FLOPs (estimate, one run of every node): 25"

# ---- dot
run 0 dot "$mlp"
has_re out "^digraph kiln \{$"
has out 'n3 [label="Variable\ndense/w\nf32[4,3]", shape=box3d'
has out 'n0 [label="Placeholder\nx\nf32[8,4]", shape=invhouse'
has out "n0 -> n5;"
has out 'out1 [label="output\nloss", shape=doubleoctagon'
has_re out "^\}$"
if command -v dot >/dev/null 2>&1; then
  checks=$((checks + 1))
  "$kilnc" dot --rankdir=LR "$mlp" | dot -Tsvg >/dev/null 2>"$tmp/err" || fail "Graphviz rejected the output"
fi

# ---- convert: text -> binary -> text gives the same graph.
run 0 convert "$mlp" "$tmp/mlp.kiln"
run 0 convert "$tmp/mlp.kiln" "$tmp/mlp2.pbtxt"
run 0 inspect "$tmp/mlp2.pbtxt"
sed 1d "$tmp/out" >"$tmp/inspect2"
"$kilnc" inspect "$mlp" | sed 1d >"$tmp/inspect1"
checks=$((checks + 1))
cmp -s "$tmp/inspect1" "$tmp/inspect2" || fail "convert changed the graph: $(diff "$tmp/inspect1" "$tmp/inspect2")"

if [[ $failures -gt 0 ]]; then
  echo "kilnc_test: $failures of $checks checks failed"
  exit 1
fi
echo "kilnc_test: all $checks checks ok"
