#!/usr/bin/env bash
# Full MNIST: teacher (dropout, jitter), baseline student, distilled student (T = 20, alpha = 0.9).
# Usage: scripts/full_mnist.sh [DATA_DIR] [OUT_DIR] [TEACHER_EPOCHS] [STUDENT_EPOCHS]
set -euo pipefail
data=${1:-../shared/data/mnist}
out=${2:-runs/full}
te=${3:-30}
se=${4:-20}
bin=target/release/retort
mkdir -p "$out"
cargo build --release -q
time $bin train --model mlp:784-1200-1200-10 --dropout 0.5 --dropout-input 0.2 --jitter 2 \
    --epochs "$te" --data "$data" --out "$out/teacher.safetensors" --resume
time $bin train --model mlp:784-800-800-10 --epochs "$se" --data "$data" --out "$out/student.safetensors" --resume
time $bin distill --teacher "$out/teacher.safetensors" --student mlp:784-800-800-10 --temperature 20 --alpha 0.9 \
    --epochs "$se" --data "$data" --out "$out/distilled.safetensors" --resume
for m in teacher student distilled; do $bin eval --model "$out/$m.safetensors" --data "$data" --json; done
