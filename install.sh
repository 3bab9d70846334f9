#!/usr/bin/env bash
# Installs Kiln under a prefix: ./install.sh [--prefix DIR] (default /usr/local).
#
#   DIR/bin/kilnc, DIR/bin/kiln    the compiler; the model server (kiln serve)
#   DIR/include/kiln/              headers (#include "graph/graph.h" with -IDIR/include/kiln)
#   DIR/lib/libkiln_*.{so,a}       graph (the builder API), runtime, dnnl_kernels, checkpoint, data,
#                                  metrics, cuda
#   DIR/lib/cmake/Kiln/            find_package(Kiln) and kiln_add_aot_library()
#   DIR/lib/pkgconfig/             kiln-graph, kiln-runtime, kiln-cuda (and -static twins)
#
# The tree is Bazel's //install:tree (install/BUILD); this copies it. docs/using-kiln.md has the rest.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  echo "usage: ./install.sh [--prefix DIR]   (default /usr/local)" >&2
  exit 2
}
prefix=/usr/local
while [[ $# -gt 0 ]]; do
  case $1 in
    --prefix) [[ $# -ge 2 && -n $2 ]] || usage; prefix=$2; shift 2 ;;
    --prefix=?*) prefix=${1#--prefix=}; shift ;;
    -h | --help) usage ;;
    *) echo "install.sh: unknown argument '$1'" >&2; usage ;;
  esac
done

./setup.sh
bazel build --noshow_progress //install:tree
tree="$(bazel info bazel-bin 2>/dev/null)/install/tree"

mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
count=0
while IFS= read -r -d '' file; do
  relative=${file#"$tree"/}
  mode=644
  [[ $relative == bin/* ]] && mode=755
  install -D -m "$mode" "$file" "$prefix/$relative"
  count=$((count + 1))
done < <(find "$tree" -type f -print0)
# pkg-config files name the prefix itself, so flags read well (the tree's are relative to the file).
sed -i "s|^prefix=.*|prefix=$prefix|" "$prefix"/lib/pkgconfig/kiln-*.pc

echo "install.sh: installed $count files under $prefix"
echo "  CMake:      find_package(Kiln) with -DCMAKE_PREFIX_PATH=$prefix"
echo "  pkg-config: PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs kiln-runtime"
