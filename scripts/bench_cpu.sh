#!/usr/bin/env bash
# The CPU speed figures of issues 2 and 4: each step bench five times for 3 s, samples/s sorted.
# This VM drifts by up to 30% between runs, so read the median, not one run.
# Usage: scripts/bench_cpu.sh [BIN]
b=${1:-target/release/retort}
run() { for i in 1 2 3 4 5; do $b bench "$@" --seconds 3 --json 2>/dev/null | python3 -c "import json,sys; print(round(json.load(sys.stdin)['samples_per_s']))"; done | sort -n | tr '\n' ' '; echo " <- bench $*"; }
run step
run train --dropout 0.5
run train --model mlp:784-800-800-10
run train --model cnn:1x28x28-c32k5p2-pool2-c64k5p2-pool2-fc1024-10
run train --model cnn:1x28x28-c8k5p2-pool2-c16k5p2-pool2-fc128-10
