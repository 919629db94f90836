#!/usr/bin/env bash
# Full MNIST with CNNs: a CNN teacher (dropout on its fully connected layer, +-2 px jitter), a CNN
# student with a thirtieth of its parameters on labels alone and distilled, and the CNN teacher
# distilled into the MLP student (compare runs/full/distilled: the MLP teacher's).
# Usage: scripts/full_mnist_cnn.sh [DATA_DIR] [OUT_DIR] [TEACHER_EPOCHS] [STUDENT_EPOCHS] [DEVICE] [BIN]
set -euo pipefail
data=${1:-../shared/data/mnist}
out=${2:-runs/cnn}
te=${3:-12}
se=${4:-12}
device=${5:-cpu}
bin=${6:-target/release/retort}
teacher=cnn:1x28x28-c32k5p2-pool2-c64k5p2-pool2-fc1024-10
student=cnn:1x28x28-c8k5p2-pool2-c16k5p2-pool2-fc128-10
mkdir -p "$out"
time $bin train --model $teacher --dropout 0.5 --jitter 2 --epochs "$te" --data "$data" --out "$out/teacher.safetensors" --device "$device" --resume
time $bin train --model $student --epochs "$se" --data "$data" --out "$out/student.safetensors" --device "$device" --resume
time $bin distill --teacher "$out/teacher.safetensors" --student $student --temperature 20 --alpha 0.9 \
    --epochs "$se" --data "$data" --out "$out/distilled.safetensors" --device "$device" --resume
time $bin distill --teacher "$out/teacher.safetensors" --student mlp:784-800-800-10 --temperature 20 --alpha 0.9 \
    --epochs 20 --data "$data" --out "$out/mlp_from_cnn.safetensors" --device "$device" --resume
for m in teacher student distilled mlp_from_cnn; do $bin eval --model "$out/$m.safetensors" --data "$data" --device "$device" --json; done
