#!/usr/bin/env bash
# Checks that every C++ file Kiln's git tree holds is formatted as .clang-format says (Google style,
# 100 columns), with Debian's clang-format. Generated goldens (codegen/testdata/) stay as generated.
# Prints each file that differs and how to fix it; exits 1 if any does.
set -uo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h' | grep -v '^codegen/testdata/')
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror --style=file "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "format_check: ${#bad[@]} of ${#files[@]} files differ from .clang-format; fix with:" >&2
  echo "  clang-format -i ${bad[*]}" >&2
  exit 1
fi
echo "format_check: ${#files[@]} files formatted"
