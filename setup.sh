#!/usr/bin/env bash
# Installs every Debian package Kiln's build, tests and demo need. Idempotent: when everything is
# present it only checks (a few seconds) and exits 0.
set -euo pipefail

PACKAGES=(
  # Build system (Bazel 4.2.3, offline) and its rule repositories.
  bazel-bootstrap bazel-rules-java bazel-platforms bazel-rules-proto
  build-essential pkg-config zlib1g-dev
  # Building apps against an install (test/install/run.sh, docs/using-kiln.md).
  cmake
  # Compiler stack: LLVM/MLIR 22 (shared libMLIR/libLLVM), lit + FileCheck for pass tests.
  llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
  # Fuzzing (//proto:graph_fuzz_test): clang 22 with its libFuzzer and sanitizer runtimes.
  clang-22 libclang-rt-22-dev
  # Libraries.
  libdnnl-dev libprotobuf-dev protobuf-compiler libabsl-dev catch2
  # kiln serve (serving/): its HTTP server, JSON, gRPC.
  # ONNX import (import/): ONNX's schema and its protobuf code.
  libonnx-dev
  libmicrohttpd-dev nlohmann-json3-dev libsimdjson-dev libgrpc++-dev protobuf-compiler-grpc
  # Reference for gradient tests and peer for benchmarks (Debian python3, not a pyenv one), with
  # OpenBLAS as the system BLAS: Debian's default reference BLAS is ~30x slower, no fair peer.
  python3-torch python3-numpy libopenblas0-openmp
  # ONNX import's real models (test/onnx: torchvision's ResNet-18, untrained, exported by torch).
  python3-torchvision
  # CPU benchmarks (bench/): Google Benchmark for //bench:kiln_bench, hyperfine for whole commands.
  libbenchmark-dev hyperfine
  # The serving benchmark's HTTP client (bench/serve_bench.cc).
  libcurl4-openssl-dev
  # Data for the demo and end-to-end tests.
  dataset-fashion-mnist
  # Style.
  clang-format
  # The test venv (below).
  python3-venv
)

missing=()
for p in "${PACKAGES[@]}"; do
  # dpkg-query prints "install ok installed" only for a fully installed package.
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

# Test-only Python tools from PyPI, in a venv of their own: tritonclient, the Open Inference
# Protocol's client, against kiln serve (test/serving); onnxruntime, the reference for ONNX
# import, and onnx 1.22.0, whose wheel ships ONNX's node tests (the last release that does;
# test/onnx).
VENV=/opt/kiln-venv
venv() {
  if "$VENV/bin/python" -c "import tritonclient.http, tritonclient.grpc, onnxruntime, onnx, sys
sys.exit(onnx.__version__ != '1.22.0')" 2>/dev/null; then
    return 0
  fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "setup: no test venv; run as root (or with sudo) to make $VENV" >&2
    return 1
  fi
  echo "setup: making $VENV (tritonclient, onnxruntime and onnx from PyPI)"
  /usr/bin/python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "tritonclient[http,grpc]==2.*" onnxruntime \
    onnx==1.22.0
}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "setup: all ${#PACKAGES[@]} packages present."
  venv
  exit $?
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup: this is not a Debian/apt system. Install the equivalents of:" >&2
  echo "  ${missing[*]}" >&2
  exit 1
fi
if [[ "$(id -u)" != 0 ]]; then
  echo "setup: missing packages; run as root (or with sudo):" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
venv
echo "setup: done."
