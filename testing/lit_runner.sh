#!/bin/bash
# Runs lit over the given tests. Usage: lit_runner.sh LIT_CFG TOOL... -- TEST...
# Each TOOL's directory goes on PATH ahead of LLVM's (FileCheck, not, count).
set -euo pipefail
cfg="$1"
shift
path=""
while [[ $# -gt 0 && "$1" != "--" ]]; do
  path="$path$(cd "$(dirname "$1")" && pwd):"
  shift
done
shift
export PATH="${path}/usr/lib/llvm-22/bin:$PATH"
export KILN_LIT_CFG_DIR="$(cd "$(dirname "$cfg")" && pwd)"
exec /usr/lib/llvm-22/bin/lit -v "$@"
