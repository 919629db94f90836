#!/usr/bin/env bash
# The CPU speed figures of issues 2 and 4: each step benchmark five times for 3 s, samples/s
# sorted. This VM's speed drifts by up to 30% between minutes and by 2x between days, so with a
# PyTorch at hand (PYTHON names an interpreter that imports torch) each Retort run is paired
# with PyTorch's run of the same work right after it, and the median of the five ratios is
# printed: the comparison that survives the drift.
# Usage: [PYTHON=/path/to/python] scripts/bench_cpu.sh [BIN] [ROUNDS]
b=${1:-target/release/retort}
rounds=${2:-5}
py=${PYTHON:-}
here=$(dirname "$0")
samples() { python3 -c "import json,sys; print(round(json.loads(sys.stdin.read().strip().splitlines()[-1])['samples_per_s']))"; }
compare() {
    local torch_bench=$1; shift
    local ours=() theirs=() ratios=()
    for _ in $(seq "$rounds"); do
        local r t
        r=$($b bench "$@" --seconds 3 --json 2>/dev/null | samples)
        ours+=("$r")
        if [ -n "$py" ]; then
            t=$($py "$here/pytorch_bench.py" --device cpu --seconds 3 "$torch_bench" | samples)
            theirs+=("$t")
            ratios+=("$(python3 -c "print(f'{$r / $t:.2f}')")")
        fi
    done
    sorted() { printf '%s\n' "$@" | sort -n | tr '\n' ' '; }
    echo "bench $*"
    echo "  retort:  $(sorted "${ours[@]}")"
    if [ -n "$py" ]; then
        echo "  pytorch: $(sorted "${theirs[@]}")"
        echo "  ratio:   $(sorted "${ratios[@]}")(median $(sorted "${ratios[@]}" | awk '{print $(int((NF+1)/2))}'))"
    fi
}
compare step step
compare train-teacher train --dropout 0.5
compare train-student train --model mlp:784-800-800-10
compare cnn-teacher train --model cnn:1x28x28-c32k5p2-pool2-c64k5p2-pool2-fc1024-10
compare cnn-student train --model cnn:1x28x28-c8k5p2-pool2-c16k5p2-pool2-fc128-10
