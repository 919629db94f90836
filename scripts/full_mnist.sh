#!/usr/bin/env bash
# Full MNIST, Hinton et al.'s experiment: a regularised teacher (dropout, +-2 px jitter), the
# student on labels alone, and the same student distilled at T = 20, alpha = 0.9 on the plain
# training images (no jitter: what the teacher learned from translations must come through its
# soft targets). About 35 minutes on 2 cores.
# Usage: scripts/full_mnist.sh [DATA_DIR] [OUT_DIR] [TEACHER_EPOCHS] [STUDENT_EPOCHS] [DEVICE]
set -euo pipefail
data=${1:-../shared/data/mnist}
out=${2:-runs/full}
te=${3:-40}
se=${4:-40}
device=${5:-cpu}
bin=target/release/retort
mkdir -p "$out"
cargo build --release -q
time $bin train --model mlp:784-1200-1200-10 --dropout 0.3 --dropout-input 0.1 --jitter 2 \
    --epochs "$te" --data "$data" --out "$out/teacher.safetensors" --device "$device" --resume
time $bin train --model mlp:784-800-800-10 --epochs "$se" --data "$data" --out "$out/student.safetensors" --device "$device" --resume
time $bin distill --teacher "$out/teacher.safetensors" --student mlp:784-800-800-10 --temperature 20 --alpha 0.9 \
    --epochs "$se" --data "$data" --out "$out/distilled.safetensors" --device "$device" --resume
for m in teacher student distilled; do $bin eval --model "$out/$m.safetensors" --data "$data" --device "$device" --json; done
