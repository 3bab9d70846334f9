#!/bin/bash
# The runtime is what apps embed: its shared build must need only the C/C++ system libraries.
set -euo pipefail
lib=
for f in "$@"; do [[ $f == *.so ]] && lib=$f; done
[[ -n $lib ]] || { echo "no shared library among: $*" >&2; exit 1; }
deps=$(ldd "$lib" | awk '{print $1}' | tr '\n' ' ')
echo "ldd: $deps"
for dep in $deps; do
  case "$dep" in
    linux-vdso.so.*|libstdc++.so.*|libm.so.*|libgcc_s.so.*|libc.so.*|/lib64/ld-linux-x86-64.so.*) ;;
    libasan.so.*|libubsan.so.*) ;;  # a --config=asan build
    *) echo "unexpected dependency of the runtime: $dep" >&2; exit 1 ;;
  esac
done
