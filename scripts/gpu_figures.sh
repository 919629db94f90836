#!/usr/bin/env bash
# The GPU figures of issue 3, in one call on a lent GPU (see ../shared/GPU.md for the loader):
# Retort's kernels and distill step on the GPU beside PyTorch CUDA on the same shapes.
# Usage, on the device machine, from the repository root, with the release binary carried in bin/:
#   bash scripts/gpu_figures.sh bin/retort "$OUT"
set -uo pipefail
bin=${1:-target/release/retort}
out=${2:-/tmp}
$bin bench kernels --device gpu --json | tee "$out/kernels_gpu.json"
$bin bench step --device gpu --seconds 5 --json | tee "$out/step_gpu.json"
$bin bench train --device gpu --dropout 0.5 --seconds 5 --json | tee "$out/train_teacher_gpu.json"
python3 scripts/pytorch_bench.py --device cuda step matmul | tee "$out/pytorch_cuda.json"
( time $bin demo --device gpu --json ) 2>&1 | tee "$out/demo_gpu.txt"
