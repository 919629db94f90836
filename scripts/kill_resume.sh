#!/usr/bin/env bash
# kill -9 at random points of a training run, resumed after each kill, N times (default 20):
# then no temporary file is left, every log line parses as an epoch record, the epochs are
# logged once each in order, and the final checkpoint is byte for byte the one an uninterrupted
# run writes. Prints one line per kill and a verdict; exit 1 on any failure.
# Usage: scripts/kill_resume.sh [BIN] [KILLS]
set -uo pipefail
bin=${1:-target/release/retort}
kills=${2:-20}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export RETORT_DEVICE=cpu
args=(train --model mlp:784-300-100-10 --epochs 8 --seed 7)
"$bin" "${args[@]}" --out "$dir/whole.safetensors" > /dev/null 2>&1 || { echo "the uninterrupted run failed"; exit 1; }
start=$(date +%s%N)
"$bin" "${args[@]}" --out "$dir/timing.safetensors" > /dev/null 2>&1
run_ms=$(( ($(date +%s%N) - start) / 1000000 ))
out="$dir/killed.safetensors"
# --resume where the run left a checkpoint or a log: a kill between an epoch's record and its
# first checkpoint leaves a log alone, which a run without --resume refuses to overwrite.
for i in $(seq "$kills"); do
    resume=(); { [ -e "$out" ] || [ -e "$out.jsonl" ]; } && resume=(--resume)
    "$bin" "${args[@]}" "${resume[@]}" --out "$out" > /dev/null 2>&1 &
    pid=$!
    # A random point within the next quarter of the run: the kills land all along it, in startup,
    # mid-epoch and mid-write, and most of the 20 interrupt something.
    sleep "$(awk -v ms="$run_ms" -v r="$RANDOM" 'BEGIN { printf "%.3f", ms * (r / 32768) / 4000 }')"
    kill -9 "$pid" 2> /dev/null && state=killed || state="had finished"
    wait "$pid" 2> /dev/null
    epochs=$( [ -e "$out.jsonl" ] && wc -l < "$out.jsonl" || echo 0)
    echo "kill $i: $state, $epochs epochs logged"
done
resume=(); { [ -e "$out" ] || [ -e "$out.jsonl" ]; } && resume=(--resume)
"$bin" "${args[@]}" "${resume[@]}" --out "$out" > /dev/null 2>&1 || { echo "FAIL: the last resume failed"; exit 1; }
fail=0
if ls -a "$dir" | grep -q '\.tmp$'; then echo "FAIL: temporaries left: $(ls -a "$dir" | grep '\.tmp$')"; fail=1; fi
python3 - "$out.jsonl" <<'PY' || fail=1
import json, sys
epochs = [json.loads(line)["epoch"] for line in open(sys.argv[1])]
if epochs != list(range(1, 9)):
    print(f"FAIL: logged epochs {epochs}")
    sys.exit(1)
PY
if cmp -s "$out" "$dir/whole.safetensors"; then echo "final checkpoint: identical to the uninterrupted run's"; else echo "FAIL: the final checkpoint differs"; fail=1; fi
[ $fail = 0 ] && echo "PASS: $kills kills, no temporary left, every log line an epoch record, epochs 1-8 once each"
exit $fail
