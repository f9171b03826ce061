#!/usr/bin/env bash
# One command that proves or disproves the CUDA kernels on a GPU machine, in minutes:
#   bash benchmarks/gpu_validate.sh
# 1. builds neurosim in place with NEUROSIM_CUDA=1 against the python3 torch there (fails loudly);
# 2. runs the test suite with the GPU visible (every backend against the reference, opcheck,
#    gradcheck, CPU-vs-GPU bit identity, half/bfloat16, no host syncs, graph capture, cuda:1 when
#    there are two GPUs);
# 3. times LIF forward+backward at [500, 16, n] with CUDA events and max_memory_allocated, beside
#    SpikingJelly (cupy/triton) and snnTorch under torch.compile when installed.
# Results: benchmarks/results/gpu_validate_<gpu>.json / .txt / .png, and the test log.
# Optional wheels for the peers can be put in .whl/ (installed with --no-deps).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT_DIR=${NEUROSIM_RESULTS:-benchmarks/results}
mkdir -p "$OUT_DIR"
export PYTHONUNBUFFERED=1

if compgen -G ".whl/*.whl" > /dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/neurosim-site .whl/*.whl \
    && export PYTHONPATH=/tmp/neurosim-site${PYTHONPATH:+:$PYTHONPATH}
fi

echo "== build (NEUROSIM_CUDA=1)"
start=$(date +%s)
NEUROSIM_CUDA=1 MAX_JOBS=${MAX_JOBS:-16} $PY setup.py -q build_ext --inplace > "$OUT_DIR/gpu_build.log" 2>&1 \
  || { tail -60 "$OUT_DIR/gpu_build.log"; echo "gpu_validate: the CUDA build failed" >&2; exit 1; }
echo "built in $(( $(date +%s) - start )) s"
$PY -c "import neurosim, json; i = neurosim.build_info(); print(json.dumps(i)); assert i['cuda_kernels'] and i['gpu_available'], i"
status=$?
[ $status -ne 0 ] && { echo "gpu_validate: CUDA kernels not usable" >&2; exit 1; }

echo "== tests with the GPU visible"
$PY -m pytest -q -p no:cacheprovider -rs tests > "$OUT_DIR/gpu_tests.log" 2>&1
tests_rc=$?
tail -30 "$OUT_DIR/gpu_tests.log"

echo "== timings"
$PY benchmarks/gpu_validate.py --out "$OUT_DIR"
bench_rc=$?
echo "gpu_validate: tests rc=$tests_rc, bench rc=$bench_rc"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
