#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (CUDA 13 toolkit at /usr/local/cuda, driver 525 or later): builds and
# runs the CUDA target's checks with the GPU required, so a missing or unusable GPU fails instead of
# leaving the comparisons out. Prints Bazel's summary and the per-test logs' tails.
#
# What it covers today: every op case of passes/compiled_ops_test.cc and every training step of
# passes/compiled_training_test.cc (regression MLP, Fashion-MNIST MLP and CNN) compiled for the GPU,
# run there and compared with the interpreter (//passes:compiled_{ops,training}_gpu_test); the kernel
# pipeline and host code (//passes:gpu_pipeline_test); the runtime's driver path (//runtime:cuda_test,
# fake driver); kilnc --target=cuda. Not yet (issue 7): the GPU benchmarks against PyTorch (eager
# and CUDA graphs) and JAX.
set -uo pipefail
cd "$(dirname "$0")/../.."
nvidia-smi -L || { echo "test/gpu/run.sh: no GPU (nvidia-smi failed)"; exit 1; }
targets=(//passes:compiled_ops_gpu_test //passes:compiled_training_gpu_test //passes:gpu_pipeline_test
  //runtime:cuda_test //tools:kilnc_cuda_test)
bazel test --test_output=errors --test_env=KILN_REQUIRE_GPU=1 --test_env=LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}" \
  "${targets[@]}"
rc=$?
for t in "${targets[@]}"; do
  log="bazel-testlogs/${t#//}"; log="${log/://}/test.log"
  echo "== $t"; tail -3 "$log" 2>/dev/null
done
exit $rc
