#!/bin/bash
set -euo pipefail
dir="${TEST_TMPDIR:-$(mktemp -d)}"
examples/aot_demo "$dir/relu.o"
gcc -O2 examples/aot_demo_app.c "$dir/relu.o" -o "$dir/app"
"$dir/app"
