#!/usr/bin/env bash
# GPU-less CUDA build check: builds neurosim with NEUROSIM_CUDA=1 against a CUDA build of torch
# (2.14.1, C++20, torch's own nvcc flags) in its own venv, asserts the CUDA kernels are in the
# build, and runs CPU ops from that build against the reference. Needs nvcc (CUDA 13) on the PATH.
# The venv is kept between runs (NEUROSIM_CUDA_VENV); the build happens in a scratch copy of the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${NEUROSIM_CUDA_VENV:-$HOME/.cache/neurosim/venv-torch2.14.1-cuda}
torch_version=${NEUROSIM_CUDA_TORCH:-2.14.1}

if ! command -v nvcc >/dev/null; then
  echo "cuda_build_check: nvcc not on the PATH: cannot check the CUDA build" >&2
  exit 1
fi
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$torch_version')" 2>/dev/null; then
  echo "cuda_build_check: creating $venv with torch $torch_version"
  rm -rf "$venv"
  python -m venv "$venv"
  "$venv/bin/pip" install -q "torch==$torch_version" numpy setuptools wheel pytest hypothesis
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C "$scratch"
cd "$scratch"
echo "cuda_build_check: NEUROSIM_CUDA=1 pip install (torch $torch_version, nvcc $(nvcc --version | sed -n 's/.*release \([0-9.]*\).*/\1/p'))"
start=$(date +%s)
# One build of the CPU kernels (compiler default ISA): the three-level CPU build is checked by the
# main install; here the point is the CUDA build, and CI time.
# One GPU architecture is enough to prove the build (CI time); real installs get DEFAULT_ARCH_LIST.
# The CPU kernels in float32 only (NEUROSIM_CPU_FLOAT32_ONLY): their 16-bit and float64 copies are
# built and tested by the main install, and were half of this build's time.
TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} NEUROSIM_CUDA=1 NEUROSIM_MARCH= NEUROSIM_CPU_FLOAT32_ONLY=1 \
  MAX_JOBS=${MAX_JOBS:-2} "$venv/bin/pip" install -q --no-build-isolation --no-deps . \
  > "$scratch/build.log" 2>&1 || { tail -80 "$scratch/build.log"; echo "cuda_build_check: the CUDA build failed" >&2; exit 1; }
echo "cuda_build_check: built in $(( $(date +%s) - start )) s"
cd "$root"/..  # import the installed package, not the source tree
"$venv/bin/python" "$root/.ci/cuda_smoke.py"
