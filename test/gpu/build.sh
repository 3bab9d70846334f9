#!/usr/bin/env bash
# Builds, on this machine, everything test/gpu/run.sh runs on a GPU machine, into gpu_bundle/ and
# gpu_train/ (git-ignored; the device tool carries one per call, 64 MiB at most). The GPU machines
# have no Bazel, MLIR or LLVM, so the compiler runs here:
#   - the oracle tests (test/oracle) run with KILN_GPU_CASES set, and their CUDA backend records
#     every op case and training step it checks: its host object with the PTX kernels embedded, its
#     feeds, and the interpreter's results (testing/jit_runner.h, WriteGpuCase);
#   - the GPU benchmark workloads (W1 b128, W2, W3, W4a) are recorded the same way;
#   - each case's object is linked into a shared object and its data gzipped (run.sh unpacks them),
#     and the runner (runtime only) is copied;
#   - gpu_train/: the Fashion-MNIST trainer and classifier built for CUDA, with the dataset.
# Usage: test/gpu/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=gpu_bundle train=gpu_train
rm -rf "$out" "$train"
mkdir -p "$out/cases" "$train/fashion-mnist"
cases=$(cd "$out/cases" && pwd)
bazel build //test/gpu:gpu_case_runner //test/gpu:write_bench_cases //bench:workload_graphs \
  //test/oracle:compiled_ops_test //test/oracle:compiled_training_test \
  //examples/fashion_mnist:fashion_mnist_cuda //examples/fashion_mnist:classify_cuda
for t in compiled_ops_test compiled_training_test; do
  (cd "bazel-bin/test/oracle/$t.runfiles/kiln" && KILN_GPU_CASES="$cases" TEST_TMPDIR="$(mktemp -d)" \
    "../../$t" >/dev/null) || { echo "test/gpu/build.sh: $t failed" >&2; exit 1; }
done
bazel-bin/test/gpu/write_bench_cases bazel-bin/bench "$cases"
for o in "$cases"/*/case.o; do
  cc -shared -o "${o%.o}.so" "$o" -lm
  rm "$o"
done
gzip -9 "$cases"/*/data.bin
cp bazel-bin/test/gpu/gpu_case_runner "$out/"
cp bazel-bin/examples/fashion_mnist/fashion_mnist_cuda bazel-bin/examples/fashion_mnist/classify_cuda "$train/"
cp /usr/share/datasets/fashion-mnist/*.gz "$train/fashion-mnist/"
chmod -R u+w "$out" "$train"
echo "test/gpu/build.sh: $(ls "$cases" | wc -l) cases, $(du -sh --apparent-size "$out" | cut -f1) in $out;" \
  "$(du -sh --apparent-size "$train" | cut -f1) in $train"
